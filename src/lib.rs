//! libhyperclient: the HyperDex client library.
//!
//! * [`client`]: a safe Rust client (one `mio::Poll` per client, no threads).
//! * `ffi` (not public in Rust): the C ABI of `hyperclient.h`, thin shims over [`client`].
//!   It is the only module allowed to use `unsafe`.

#![deny(unsafe_code)]

pub mod client;

#[allow(unsafe_code)]
mod ffi;

#[cfg(test)]
mod testing;

pub use client::Client;
pub use hyperdex_core::codes::{DataType, Predicate, ReturnCode};
