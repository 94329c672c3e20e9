//! The `hyperdex` binary's pieces: the coordinator, the storage daemon and the admin tools.

pub mod cli;
pub mod coordinator;
pub mod daemon;
pub mod fasthash;
pub mod net;
pub mod signals;
pub mod tools;
