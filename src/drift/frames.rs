//! The members of the request's objects a walk is in: read once per object into one buffer
//! (a frame a level), then each of Git's keys is looked up among them; a large object's go
//! through a hash map, so lookups stay constant-time however many members a request sends.

use std::collections::HashMap;

use super::compare::Walk;
use crate::encoded::{self, Node, View};

/// Where one request object's members are.
pub(super) enum Frame<'r> {
    /// `members[start..end]`.
    Range(usize, usize),
    /// A large object's (many labels, say), so lookups stay constant-time.
    Hashed(HashMap<&'r [u8], Node<'r>>),
}

impl<'r> Walk<'_, '_, 'r> {
    /// Reads the members of `object` (none when it is absent or not an object) into a frame;
    /// frames are released in reverse order with [`Walk::close`].
    pub(super) fn open(&mut self, object: Option<Node<'r>>) -> Frame<'r> {
        let start = self.members.len();
        match object.map(Node::view) {
            Some(View::Object(entries)) if entries.len() > encoded::SCAN_LIMIT => {
                // Later members replace earlier ones, as `serde_json` keeps repeated keys.
                Frame::Hashed(entries.raw().collect())
            }
            Some(View::Object(entries)) => {
                self.members.extend(entries.raw());
                Frame::Range(start, self.members.len())
            }
            _ => Frame::Range(start, start),
        }
    }

    /// The last member named `key` in a frame.
    pub(super) fn member(&self, frame: &Frame<'r>, key: &[u8]) -> Option<Node<'r>> {
        match frame {
            Frame::Range(start, end) => self
                .members
                .get(*start..*end)
                .unwrap_or_default()
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v),
            Frame::Hashed(map) => map.get(key).copied(),
        }
    }

    pub(super) fn close(&mut self, frame: Frame<'r>) {
        if let Frame::Range(start, _) = frame {
            self.members.truncate(start);
        }
    }
}
