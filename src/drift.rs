//! Field comparison between Git's declaration and a request, as server-side apply owns fields:
//! paths, normalisation, atomic units, list-maps and sets, and the walk over the schema.

pub mod atomic;
pub mod compare;
mod frames;
mod lists;
pub mod normalize;
pub mod path;
mod secret;

pub use compare::{diff, diff_nodes, diff_update, needs_old, FieldDiff, Options, Within};
pub use path::{Path, Pattern};
