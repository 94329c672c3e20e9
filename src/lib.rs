//! libhyperclient: the HyperDex client library.
//!
//! * [`client`]: a safe Rust client (one `mio::Poll` per client, no threads).
//! * `ffi`: the C ABI of `hyperclient.h`, thin shims over [`client`]. It is the only module
//!   allowed to use `unsafe`. Public (but hidden from the docs) only so that the integration
//!   tests can call the C functions exactly as C does; Rust programs use [`client`].

#![deny(unsafe_code)]

pub mod client;

#[doc(hidden)]
#[allow(unsafe_code)]
pub mod ffi;

pub use client::Client;
pub use hyperdex_core::codes::{DataType, Predicate, ReturnCode};
