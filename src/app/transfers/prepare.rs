//! Importing a file to send: into the object store (quota checked), typed by its content, with
//! the previews of a picture.

use std::io::Read;
use std::path::Path;

use super::MAX_THUMB_SOURCE;
use crate::app::{ClientError, ClientResult};
use crate::crypto::merkle::MerkleTree;
use crate::media::{ThumbError, make_thumbs};
use crate::objects::{ObjectId, ObjectStore, SEGMENT, sniff};
use crate::wire::{AttachKind, ObjectMeta};

/// A file imported into the object store, ready to be announced.
#[derive(Debug, Clone)]
pub struct PreparedFile {
    /// The file's id.
    pub id: ObjectId,
    /// The `obj` map of the attachment message.
    pub meta: ObjectMeta,
    /// Type from content sniffing.
    pub kind: AttachKind,
    /// Caption.
    pub caption: Option<String>,
    /// Display version (images).
    pub display: Option<ObjectId>,
    /// Square crop (images).
    pub avatar: Option<ObjectId>,
    /// Why an image has no preview (too large to decode safely, damaged), if so.
    pub preview_error: Option<ThumbError>,
    /// The Merkle leaf hash of each chunk (its root is in `meta`).
    pub leaves: Vec<[u8; 32]>,
}

/// Imports `path` into the store (quota checked) and makes the previews of an image; `name`
/// overrides the file's own name. Blocking: run it off the async threads.
pub fn prepare_file(
    objects: &ObjectStore,
    path: &Path,
    caption: Option<String>,
    name: Option<String>,
    max_bytes: u64,
) -> ClientResult<PreparedFile> {
    let read_error = |source| ClientError::ReadFile { path: path.to_path_buf(), source };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > max_bytes {
        return Err(ClientError::FileTooLarge { size_mib: size >> 20, max_mib: max_bytes >> 20 });
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).map_err(read_error)?;
    let (kind, mime) = sniff(&head[..n]);
    let (id, size, leaves) = objects.put_file_with_leaves(path)?;
    let name =
        name.or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "file".into());
    let name = crate::objects::truncate_keeping_extension(&name, crate::wire::MAX_FILE_NAME);
    let (mut thumb, mut w, mut h, mut display, mut avatar, mut preview_error) = (None, None, None, None, None, None);
    if matches!(kind, AttachKind::Image | AttachKind::Gif) && size <= MAX_THUMB_SOURCE {
        let bytes = std::fs::read(path).map_err(read_error)?;
        match make_thumbs(&bytes) {
            Ok(t) => {
                w = Some(u64::from(t.width));
                h = Some(u64::from(t.height));
                display = Some(objects.put_reader(&t.display[..])?.0);
                avatar = Some(objects.put_reader(&t.avatar[..])?.0);
                thumb = Some(t.preview);
            }
            Err(e) => preview_error = Some(e),
        }
    }
    let meta = ObjectMeta {
        hash: id.0,
        size,
        name,
        mime: mime.to_string(),
        chunks: size.div_ceil(SEGMENT as u64),
        w,
        h,
        thumb,
        root: Some(MerkleTree::new(leaves.clone()).root()),
    };
    Ok(PreparedFile { id, meta, kind, caption, display, avatar, preview_error, leaves })
}
