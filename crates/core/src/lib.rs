//! hyperdex-core: everything the client and the servers share, without any I/O.
//!
//! * [`codes`]: the ABI enumerations (return codes, datatypes, predicates).
//! * [`space`]: the space description language.
//! * [`values`]: the encodings of every datatype.
//! * [`ops`]: checks and functions of key operations, and their application.
//! * [`hashing`]: hyperspace coordinates and region layout.
//! * [`config`]: the cluster configuration.
//! * [`coordset`]: which coordinator of the group to ask next (redirects, failures).
//! * [`search`]: search planning (predicates to regions) and the per-object filter.
//! * [`wire`] and [`proto`]: framing and messages.

pub mod codes;
pub mod config;
pub mod coordset;
pub mod hashing;
pub mod ops;
pub mod proto;
pub mod search;
pub mod space;
pub mod values;
pub mod wire;

pub use codes::{CoordCode, DataType, Predicate, ReturnCode};
