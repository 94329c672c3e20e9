//! The space description language (spec/cluster.md §1): `space NAME key [TYPE] NAME
//! [attributes ...] [subspace ...]* [create N partitions] [tolerate F failures]`.

use crate::codes::DataType;

/// One attribute of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub dtype: DataType,
}

/// A parsed and validated space description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceDesc {
    pub name: String,
    /// The schema: the key first, then the attributes in the order written.
    pub attrs: Vec<Attribute>,
    /// The `subspace` lines (subspace 0, the key alone, is implied and not listed here):
    /// attribute indexes into `attrs`, in the order written.
    pub subspaces: Vec<Vec<usize>>,
    /// `create N partitions` (default 256).
    pub partitions: u32,
    /// `tolerate F failures` (default 2).
    pub fault_tolerance: u32,
}

/// Why a description was refused (reported as BADSPACE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceError {
    pub message: String,
}

impl std::fmt::Display for SpaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for SpaceError {}

/// Parses and validates a space description.
pub fn parse_space(text: &str) -> Result<SpaceDesc, SpaceError> {
    let _ = text;
    todo!("space grammar")
}
