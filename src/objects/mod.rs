//! The content-addressed object store (`accounts/<address>/objects/`), like git's objects but
//! encrypted and with names that reveal nothing.
//!
//! - An object's id is the SHA-256 of its plain content.
//! - Its file is `objects/ab/cdef...`, named by HMAC-SHA-256(name key, id): someone holding the
//!   disk cannot test whether a known file is present.
//! - The file is `header || segments`. The header holds a random per-object key wrapped with
//!   the store key, and the id, also encrypted. The content is cut in 64 KiB segments, each
//!   sealed with AES-256-GCM under the object key with nonce `be64(index) || be32(last)`:
//!   truncation, reordering and swapping are detected; reading re-hashes the content and checks
//!   it against the id. Memory stays constant for any size.
//! - Writes go to a temporary file, fsync, rename. The same content twice is stored once.
//! - Segment i holds exactly the bytes of transfer chunk i, so an incoming file is written
//!   chunk by chunk, in any order, straight into a partial object ([`PartialObject`]).

mod format;
mod names;
mod partial;
mod sniff;
mod store;

pub use format::{HEADER2, ObjectReader, SEGMENT, padded_file_len, padme};
pub use names::{MAX_NAME_BYTES, create_unique, sanitize_file_name, truncate_keeping_extension};
pub use partial::PartialObject;
pub use sniff::sniff;
pub use store::{ObjectError, ObjectId, ObjectStore};
