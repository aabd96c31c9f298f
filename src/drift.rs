//! Field comparison between Git's declaration and a request: paths, normalisation, and the walk.

pub mod compare;
pub mod normalize;
pub mod path;

pub use compare::{diff, FieldDiff, Options};
pub use path::{Path, Pattern};
