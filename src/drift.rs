//! Field comparison between Git's declaration and a request: paths, normalisation, and the walk.

pub mod compare;
pub mod normalize;
pub mod path;
pub mod tree;

pub use compare::{diff, diff_nodes, FieldDiff, Options};
pub use path::{Path, Pattern};
pub use tree::{Node, Tree};
