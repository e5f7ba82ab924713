//! Read-side views of stored messages, shared by the CLI's JSON and the GUI.

use serde::Serialize;

use crate::crypto::Address;
use crate::objects::ObjectId;
use crate::store::MessageRow;
use crate::wire::{Body, Packet};

/// An attachment as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectView {
    /// Hex SHA-256 of the file.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Display name (never used as a path).
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Width, if known.
    pub w: Option<u64>,
    /// Height, if known.
    pub h: Option<u64>,
    /// Whether the whole file is here and verified.
    pub complete: bool,
}

/// A message as the CLI prints it (`history --json`, `run --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// Hex hash.
    pub hash: String,
    /// When it was stored here (ms since the Unix epoch).
    pub dt: i64,
    /// `"in"` or `"out"`.
    pub dir: &'static str,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Type letter.
    #[serde(rename = "type")]
    pub kind: String,
    /// Status letter.
    pub stat: String,
    /// Text or caption.
    pub text: Option<String>,
    /// Attachment.
    pub obj: Option<ObjectView>,
}

impl MessageView {
    /// The view of a stored row, from `me`'s side; `have` tells whether an object is stored
    /// complete here.
    pub fn of(row: &MessageRow, me: &Address, have: impl Fn(&ObjectId) -> bool) -> Self {
        let packet = Packet::decode(&row.cbor).ok();
        let (text, obj) = match packet.map(|p| p.body) {
            Some(Body::Text { text }) => (Some(text), None),
            Some(Body::Attachment { text, obj, .. }) => (
                text,
                Some(ObjectView {
                    hash: hex::encode(obj.hash),
                    size: obj.size,
                    name: obj.name,
                    mime: obj.mime,
                    w: obj.w,
                    h: obj.h,
                    complete: have(&ObjectId(obj.hash)),
                }),
            ),
            _ => (None, None),
        };
        Self {
            hash: row.hash.clone(),
            dt: row.dt,
            dir: if row.outgoing(me) { "out" } else { "in" },
            from: row.from.to_hex(),
            to: row.to.to_hex(),
            kind: row.kind.to_string(),
            stat: row.stat.to_string(),
            text,
            obj,
        }
    }
}
