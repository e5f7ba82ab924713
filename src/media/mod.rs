//! Media processing: thumbnails of images (pure CPU work, no I/O).

mod thumbs;

pub use thumbs::{
    AVATAR_SIDE, DISPLAY_MAX_SIDE, MAX_ALLOC, MAX_SIDE, PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE, ThumbError, Thumbs,
    decode_slot, fits_budget, make_thumbs,
};
