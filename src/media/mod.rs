//! Media processing: thumbnails of images (pure CPU work, no I/O).

mod animation;
mod thumbs;

pub use animation::{Frame, GifPlayer, MAX_HELD_FRAMES};

pub use thumbs::{
    AVATAR_SIDE, DISPLAY_MAX_SIDE, DecodeSlot, MAX_ALLOC, MAX_SIDE, PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE, ThumbError,
    Thumbs, decode_slot, fits_budget, make_thumbs, make_thumbs_in,
};
