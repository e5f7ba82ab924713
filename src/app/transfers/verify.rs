//! Verifying a complete incoming file (SHA-256 over every byte) and making a picture's
//! previews: blocking work, run off the async threads.

use std::io::Read;
use std::sync::Arc;

use super::Key;
use crate::app::errors::FileProblem;
use crate::media::{ThumbError, decode_slot, make_thumbs_in};
use crate::objects::{ObjectId, ObjectStore, PartialObject};

/// A complete partial object to verify and keep.
pub struct VerifyJob {
    pub(super) objects: Arc<ObjectStore>,
    pub(super) key: Key,
    /// The received file; `None` when the object was stored already (nothing to write).
    pub(super) partial: Option<PartialObject>,
    /// A picture: make its display version and avatar crop too.
    pub(super) image: bool,
}

impl std::fmt::Debug for VerifyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyJob").field("file", &self.key.0).field("from", &self.key.1).finish_non_exhaustive()
    }
}

/// What a verification found.
#[derive(Debug)]
pub struct Verified {
    pub(super) key: Key,
    pub(super) result: Result<Kept, FileProblem>,
}

/// A kept file's display version and avatar crop, and why there is no preview (if so).
#[derive(Debug)]
pub(super) struct Kept {
    pub(super) display: Option<ObjectId>,
    pub(super) avatar: Option<ObjectId>,
    pub(super) thumb_error: Option<ThumbError>,
}

impl VerifyJob {
    /// Verifies and keeps the file (blocking).
    pub fn run(self) -> Verified {
        let Self { objects, key, partial, image } = self;
        let finished = match partial {
            Some(partial) => objects.finish_partial(partial),
            None => Ok(()),
        };
        let result = finished.map_err(FileProblem::Store).map(|()| {
            if !image {
                return Kept { display: None, avatar: None, thumb_error: None };
            }
            // The slot first: a flood of pictures waits here without their bytes in memory.
            let slot = decode_slot();
            let mut bytes = Vec::new();
            let read = objects
                .open_reader(&key.0)
                .map_err(|e| e.to_string())
                .and_then(|mut r| r.read_to_end(&mut bytes).map_err(|e| e.to_string()));
            if let Err(e) = read {
                return Kept { display: None, avatar: None, thumb_error: Some(ThumbError::Decode(e)) };
            }
            match make_thumbs_in(&slot, &bytes) {
                Ok(t) => Kept {
                    display: objects.put_reader(&t.display[..]).ok().map(|r| r.0),
                    avatar: objects.put_reader(&t.avatar[..]).ok().map(|r| r.0),
                    thumb_error: None,
                },
                Err(e) => Kept { display: None, avatar: None, thumb_error: Some(e) },
            }
        });
        Verified { key, result }
    }
}
