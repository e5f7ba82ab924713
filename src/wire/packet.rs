//! The CBOR packet (PROTOCOL.md section 4): a map with text keys; unknown keys are ignored.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::{MAX_TEXT, VERSION};

/// Longest MIME type (`obj.mime`), in bytes.
pub const MAX_MIME: usize = 127;
/// Longest file name (`obj.name`), in bytes.
pub const MAX_FILE_NAME: usize = 255;
/// Largest preview (`obj.thumb`), in bytes.
pub const MAX_THUMB: usize = 48 * 1024;
/// Longest sender name (`name`), in characters.
pub const MAX_SENDER_NAME: usize = 64;
/// Most hashes in one receipt (`ack`).
pub const MAX_ACKS: usize = 1000;
/// Longest reaction (`emoji`), in bytes: one emoji with its modifiers and joiners.
pub const MAX_EMOJI: usize = 64;
/// Most chunk indexes in one need (`need.i`).
pub const MAX_NEEDS: usize = 4096;
/// Largest width or height (`obj.w`, `obj.h`) taken at its word.
pub const MAX_DIMENSION: u64 = 1_000_000;
/// Most hashes in a chunk's inclusion proof.
pub const MAX_PROOF: usize = crate::crypto::merkle::MAX_PROOF;

/// The kind of an attachment message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachKind {
    /// `I`: a still image.
    Image,
    /// `G`: a GIF.
    Gif,
    /// `M`: a video.
    Video,
    /// `F`: any other file.
    File,
}

impl AttachKind {
    /// The type letter.
    pub fn letter(self) -> char {
        match self {
            Self::Image => 'I',
            Self::Gif => 'G',
            Self::Video => 'M',
            Self::File => 'F',
        }
    }

    fn from_letter(c: &str) -> Option<Self> {
        Some(match c {
            "I" => Self::Image,
            "G" => Self::Gif,
            "M" => Self::Video,
            "F" => Self::File,
            _ => return None,
        })
    }
}

/// The `obj` map of an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// SHA-256 of the whole file.
    pub hash: [u8; 32],
    /// File size in bytes.
    pub size: u64,
    /// Display name only; never a path.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Number of 64 KiB chunks.
    pub chunks: u64,
    /// Width in pixels, for images and videos.
    pub w: Option<u64>,
    /// Height in pixels.
    pub h: Option<u64>,
    /// Preview image (at most 320 px, 48 KiB).
    pub thumb: Option<Vec<u8>>,
    /// Merkle root of the chunks (`root`, `docs/PROTOCOL.md` section 9): each chunk is checked
    /// against it before it is written. Absent from v1-only senders.
    pub root: Option<[u8; 32]>,
}

/// What a packet carries, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `T`: a text message.
    Text {
        /// UTF-8, at most 32 KiB.
        text: String,
    },
    /// `I`, `G`, `M`, `F`: an attachment with an optional caption.
    Attachment {
        /// Which letter.
        kind: AttachKind,
        /// Caption.
        text: Option<String>,
        /// The file.
        obj: ObjectMeta,
    },
    /// `R`: a receipt for stored messages.
    Receipt {
        /// Message hashes.
        ack: Vec<[u8; 32]>,
    },
    /// `C`: one chunk of a file.
    Chunk {
        /// SHA-256 of the whole file.
        hash: [u8; 32],
        /// Chunk index.
        i: u64,
        /// The bytes.
        data: Vec<u8>,
        /// Its inclusion proof in the file's Merkle tree (`proof`, `docs/PROTOCOL.md` section
        /// 9), from the leaf up; empty when the file has no root or one chunk.
        proof: Vec<[u8; 32]>,
    },
    /// `N`: chunks still missing.
    Need {
        /// SHA-256 of the whole file.
        hash: [u8; 32],
        /// Missing chunk indexes.
        i: Vec<u64>,
    },
    /// `E`: the sender's new text for an earlier text message of theirs (`docs/PROTOCOL.md`
    /// section 13).
    Edit {
        /// The hash of the message edited (`re`).
        target: [u8; 32],
        /// Its new text.
        text: String,
    },
    /// `D`: the sender deletes an earlier message of theirs for everyone.
    Delete {
        /// The hash of the message deleted (`re`).
        target: [u8; 32],
    },
    /// `X`: the sender's reaction to a message of the conversation; empty removes it.
    React {
        /// The hash of the message reacted to (`re`).
        target: [u8; 32],
        /// One emoji, or empty.
        emoji: String,
    },
    /// `S`: the sender has displayed these messages (a read receipt; not a message).
    Read {
        /// Message hashes.
        ack: Vec<[u8; 32]>,
    },
    /// `Y`: the sender is typing (`on`) or stopped; never stored, never sent again.
    Typing {
        /// Typing now.
        on: bool,
    },
    /// `K` (protocol v2): the sender's signed key bundle, sent in a v1 envelope to a peer
    /// whose bundle the sender lacks or whose session broke.
    Keys {
        /// The signed bundle ([`super::KeyBundle`]).
        bundle: Vec<u8>,
        /// The sender asks for the recipient's bundle in return.
        want: bool,
        /// The sender could not decrypt the recipient's messages: start a new session and
        /// send again everything not yet confirmed.
        reset: bool,
    },
}

impl Body {
    /// The type letter of the `t` key.
    pub fn letter(&self) -> char {
        match self {
            Self::Text { .. } => 'T',
            Self::Attachment { kind, .. } => kind.letter(),
            Self::Receipt { .. } => 'R',
            Self::Chunk { .. } => 'C',
            Self::Need { .. } => 'N',
            Self::Keys { .. } => 'K',
            Self::Edit { .. } => 'E',
            Self::Delete { .. } => 'D',
            Self::React { .. } => 'X',
            Self::Read { .. } => 'S',
            Self::Typing { .. } => 'Y',
        }
    }

    /// For an edit, a delete or a reaction (an action on an earlier message, stored and
    /// receipted like a message): the message it acts on.
    pub fn action_target(&self) -> Option<[u8; 32]> {
        match self {
            Self::Edit { target, .. } | Self::Delete { target } | Self::React { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// The words a user searches for: a text, or an attachment's caption and file name.
    pub fn search_text(&self) -> Option<String> {
        match self {
            Self::Text { text } => Some(text.clone()),
            Self::Attachment { text: Some(caption), obj, .. } => Some(format!("{caption}\n{}", obj.name)),
            Self::Attachment { text: None, obj, .. } => Some(obj.name.clone()),
            _ => None,
        }
    }

    /// Whether this is a message (stored as a row and receipted), not a control packet.
    pub fn is_message(&self) -> bool {
        self.kind().is_some()
    }

    /// The kind of a message; `None` for a control packet.
    pub fn kind(&self) -> Option<super::MessageKind> {
        match self {
            Self::Text { .. } => Some(super::MessageKind::Text),
            Self::Attachment { kind, .. } => Some((*kind).into()),
            _ => None,
        }
    }
}

/// A packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Random message id.
    pub id: [u8; 16],
    /// Sender's clock, ms since the Unix epoch.
    pub ts: u64,
    /// Type-specific content.
    pub body: Body,
    /// `name`: the sender's display name, carried by messages to someone who has not written
    /// back yet (so that a message request says who claims to write). At most
    /// [`MAX_SENDER_NAME`] characters, no control characters; a receiver ignores any other.
    pub name: Option<String>,
    /// `re` on a message: the hash of the earlier message it replies to (`docs/PROTOCOL.md`
    /// section 13). Ignored on other packets.
    pub reply_to: Option<[u8; 32]>,
}

/// A CBOR packet that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Not well-formed CBOR of the expected shape.
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    /// A required key is missing.
    #[error("missing key {0:?}")]
    Missing(&'static str),
    /// `v` is not 1.
    #[error("unsupported packet version {0}")]
    Version(u64),
    /// `t` is not a known type.
    #[error("unknown packet type {0:?}")]
    UnknownType(String),
    /// A value is malformed (a length that does not fit, an index out of range).
    #[error("invalid value for {0:?}")]
    Invalid(&'static str),
    /// A field is over its limit (a name, a type, a file name, a preview, a list).
    #[error("{0:?} is over its limit")]
    OverLimit(&'static str),
    /// Bytes after the packet.
    #[error("trailing bytes after the packet")]
    Trailing,
}

impl From<minicbor::decode::Error> for PacketError {
    fn from(e: minicbor::decode::Error) -> Self {
        Self::Cbor(e.to_string())
    }
}

type Enc = Encoder<Vec<u8>>;

impl Packet {
    /// A packet with a random id and the current time.
    pub fn new(body: Body) -> Self {
        let mut id = [0u8; 16];
        // The OS RNG failing is not recoverable in any useful way; an all-zero id would still
        // be a valid (if not unique) packet, and the hash covers ts and body too.
        let _ = crate::crypto::random_bytes(&mut id);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self { id, ts, body, name: None, reply_to: None }
    }

    /// This packet carrying the sender's display name (dropped when it is not a valid one).
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name.filter(|n| valid_sender_name(n));
        self
    }

    /// This message replying to the message with hash `to` (kept only on messages).
    pub fn replying_to(mut self, to: Option<[u8; 32]>) -> Self {
        self.reply_to = to.filter(|_| self.body.is_message());
        self
    }

    /// The CBOR bytes: keys `v`, `id`, `ts`, `t`, then the type's keys.
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode(None).expect("encoding into a Vec cannot fail")
    }

    /// The CBOR bytes grown towards `len` (when shorter) by a last key `pad`: a byte string of
    /// zeros that every receiver ignores (docs/PROTOCOL.md section 11). The result is at most
    /// `len` bytes and, when padded, at most 4 bytes shorter (the pad's key and header take 5
    /// bytes at least, and a few lengths are skipped where its header grows).
    pub fn encode_padded_to(&self, len: usize) -> Vec<u8> {
        let plain = self.encode();
        // The key ("pad", 4 bytes) and the byte string's header come on top of its zeros.
        let Some(room) = len.checked_sub(plain.len() + 4) else { return plain };
        // The longest run of zeros whose header and bytes fit in `room`, by header length.
        let runs = [(1, 0, 23), (2, 24, 255), (3, 256, 65_535), (5, 65_536, usize::MAX)];
        let longest = runs
            .into_iter()
            .filter_map(|(head, min, max)| room.checked_sub(head).map(|z| z.min(max)).filter(|z| *z >= min));
        let Some(zeros) = longest.max() else { return plain };
        self.try_encode(Some(zeros)).expect("encoding into a Vec cannot fail")
    }

    fn try_encode(&self, pad: Option<usize>) -> Result<Vec<u8>, minicbor::encode::Error<std::convert::Infallible>> {
        let mut e: Enc = Encoder::new(Vec::new());
        let extra = match &self.body {
            Body::Text { .. }
            | Body::Receipt { .. }
            | Body::Chunk { .. }
            | Body::Need { .. }
            | Body::Keys { .. }
            | Body::Delete { .. }
            | Body::Read { .. }
            | Body::Typing { .. } => 1,
            Body::Attachment { text, .. } => 1 + u64::from(text.is_some()),
            Body::Edit { .. } | Body::React { .. } => 2,
        };
        let reply_to = self.reply_to.filter(|_| self.body.is_message());
        let keys = 4 + extra + u64::from(self.name.is_some()) + u64::from(reply_to.is_some());
        e.map(keys + u64::from(pad.is_some()))?;
        e.str("v")?.u64(u64::from(VERSION))?;
        e.str("id")?.bytes(&self.id)?;
        e.str("ts")?.u64(self.ts)?;
        let mut letter = [0u8; 4];
        e.str("t")?.str(self.body.letter().encode_utf8(&mut letter))?;
        if let Some(name) = &self.name {
            e.str("name")?.str(name)?;
        }
        if let Some(re) = &reply_to {
            e.str("re")?.bytes(re)?;
        }
        match &self.body {
            Body::Text { text } => {
                e.str("text")?.str(text)?;
            }
            Body::Attachment { text, obj, .. } => {
                if let Some(text) = text {
                    e.str("text")?.str(text)?;
                }
                e.str("obj")?;
                encode_obj(&mut e, obj)?;
            }
            Body::Receipt { ack } => {
                e.str("ack")?.array(ack.len() as u64)?;
                for h in ack {
                    e.bytes(h)?;
                }
            }
            Body::Chunk { hash, i, data, proof } => {
                e.str("chunk")?.map(3 + u64::from(!proof.is_empty()))?;
                e.str("hash")?.bytes(hash)?;
                e.str("i")?.u64(*i)?;
                e.str("data")?.bytes(data)?;
                if !proof.is_empty() {
                    e.str("proof")?.array(proof.len() as u64)?;
                    for h in proof {
                        e.bytes(h)?;
                    }
                }
            }
            Body::Edit { target, text } => {
                e.str("re")?.bytes(target)?;
                e.str("text")?.str(text)?;
            }
            Body::Delete { target } => {
                e.str("re")?.bytes(target)?;
            }
            Body::React { target, emoji } => {
                e.str("re")?.bytes(target)?;
                e.str("emoji")?.str(emoji)?;
            }
            Body::Read { ack } => {
                e.str("ack")?.array(ack.len() as u64)?;
                for h in ack {
                    e.bytes(h)?;
                }
            }
            Body::Typing { on } => {
                e.str("on")?.bool(*on)?;
            }
            Body::Keys { bundle, want, reset } => {
                e.str("keys")?.map(3)?;
                e.str("b")?.bytes(bundle)?;
                e.str("want")?.bool(*want)?;
                e.str("reset")?.bool(*reset)?;
            }
            Body::Need { hash, i } => {
                e.str("need")?.map(2)?;
                e.str("hash")?.bytes(hash)?;
                e.str("i")?.array(i.len() as u64)?;
                for x in i {
                    e.u64(*x)?;
                }
            }
        }
        if let Some(zeros) = pad {
            e.str("pad")?.bytes(&vec![0; zeros])?;
        }
        Ok(e.into_writer())
    }

    /// Decodes and validates a packet; unknown keys are skipped.
    pub fn decode(cbor: &[u8]) -> Result<Self, PacketError> {
        let mut d = Decoder::new(cbor);
        let (mut v, mut id, mut ts, mut t) = (None, None, None, None);
        let (mut text, mut obj, mut ack, mut chunk, mut need) = (None, None, None, None, None);
        let (mut keys, mut name, mut re, mut emoji, mut on) = (None, None, None, None, None);
        for_each_entry(&mut d, |d, key| {
            match key {
                "v" => v = Some(d.u64()?),
                "id" => id = Some(fixed::<16>(d.bytes()?, "id")?),
                "ts" => ts = Some(d.u64()?),
                "t" => t = Some(d.str()?.to_string()),
                "text" => {
                    let s = d.str()?;
                    if s.len() > MAX_TEXT {
                        return Err(PacketError::OverLimit("text"));
                    }
                    text = Some(s.to_string());
                }
                "obj" => obj = Some(decode_obj(d)?),
                "ack" => ack = Some(decode_ack(d)?),
                "chunk" => chunk = Some(decode_chunk(d)?),
                "need" => need = Some(decode_need(d)?),
                "keys" => keys = Some(decode_keys(d)?),
                "re" => re = Some(fixed::<32>(d.bytes()?, "re")?),
                "emoji" => emoji = Some(decode_emoji(d)?),
                "on" => on = Some(d.bool()?),
                // Only a claim, shown as one: an invalid name (or not a text) is ignored, not
                // the message.
                "name" if d.datatype()? == Type::String => {
                    name = Some(d.str()?).filter(|n| valid_sender_name(n)).map(str::to_string)
                }
                _ => d.skip()?,
            }
            Ok(())
        })?;
        if d.position() != cbor.len() {
            return Err(PacketError::Trailing);
        }
        let v = v.ok_or(PacketError::Missing("v"))?;
        if v != u64::from(VERSION) {
            return Err(PacketError::Version(v));
        }
        let id = id.ok_or(PacketError::Missing("id"))?;
        let ts = ts.ok_or(PacketError::Missing("ts"))?;
        let t = t.ok_or(PacketError::Missing("t"))?;
        let body = match t.as_str() {
            "T" => Body::Text { text: text.ok_or(PacketError::Missing("text"))? },
            "R" => Body::Receipt { ack: ack.ok_or(PacketError::Missing("ack"))? },
            "C" => {
                let (hash, i, data, proof) = chunk.ok_or(PacketError::Missing("chunk"))?;
                Body::Chunk { hash, i, data, proof }
            }
            "N" => {
                let (hash, i) = need.ok_or(PacketError::Missing("need"))?;
                Body::Need { hash, i }
            }
            "K" => {
                let (bundle, want, reset) = keys.ok_or(PacketError::Missing("keys"))?;
                Body::Keys { bundle, want, reset }
            }
            "E" => Body::Edit {
                target: re.take().ok_or(PacketError::Missing("re"))?,
                text: text.ok_or(PacketError::Missing("text"))?,
            },
            "D" => Body::Delete { target: re.take().ok_or(PacketError::Missing("re"))? },
            "X" => Body::React {
                target: re.take().ok_or(PacketError::Missing("re"))?,
                emoji: emoji.ok_or(PacketError::Missing("emoji"))?,
            },
            "S" => Body::Read { ack: ack.ok_or(PacketError::Missing("ack"))? },
            "Y" => Body::Typing { on: on.ok_or(PacketError::Missing("on"))? },
            other => match AttachKind::from_letter(other) {
                Some(kind) => Body::Attachment { kind, text, obj: obj.ok_or(PacketError::Missing("obj"))? },
                None => return Err(PacketError::UnknownType(other.chars().take(16).collect())),
            },
        };
        let reply_to = re.filter(|_| body.is_message());
        Ok(Self { id, ts, body, name, reply_to })
    }
}

/// A sender name a receiver shows: 1 to [`MAX_SENDER_NAME`] characters, not blank, no
/// control characters.
pub fn valid_sender_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= MAX_SENDER_NAME && !name.chars().any(char::is_control)
}

fn encode_obj(e: &mut Enc, o: &ObjectMeta) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    let n = 5
        + u64::from(o.w.is_some())
        + u64::from(o.h.is_some())
        + u64::from(o.thumb.is_some())
        + u64::from(o.root.is_some());
    e.map(n)?;
    e.str("hash")?.bytes(&o.hash)?;
    e.str("size")?.u64(o.size)?;
    e.str("name")?.str(&o.name)?;
    e.str("mime")?.str(&o.mime)?;
    e.str("chunks")?.u64(o.chunks)?;
    if let Some(w) = o.w {
        e.str("w")?.u64(w)?;
    }
    if let Some(h) = o.h {
        e.str("h")?.u64(h)?;
    }
    if let Some(thumb) = &o.thumb {
        e.str("thumb")?.bytes(thumb)?;
    }
    if let Some(root) = &o.root {
        e.str("root")?.bytes(root)?;
    }
    Ok(())
}

/// Calls `f` for each key of a (definite or indefinite) map; `f` must consume the value.
pub(super) fn for_each_entry<'b>(
    d: &mut Decoder<'b>,
    mut f: impl FnMut(&mut Decoder<'b>, &str) -> Result<(), PacketError>,
) -> Result<(), PacketError> {
    let len = d.map()?;
    for_each_element(d, len, |d| {
        if d.datatype()? != Type::String {
            // Keys are text; skip any other key and its value.
            d.skip()?;
            d.skip()?;
            return Ok(());
        }
        let key = d.str()?.to_owned();
        f(d, &key)
    })
}

/// Calls `f` for each item of a (definite or indefinite) array; `f` must consume the item.
pub(super) fn for_each_item<'b>(
    d: &mut Decoder<'b>,
    f: impl FnMut(&mut Decoder<'b>) -> Result<(), PacketError>,
) -> Result<(), PacketError> {
    let len = d.array()?;
    for_each_element(d, len, f)
}

/// Calls `f` `len` times, or (indefinite length, `None`) until the break marker.
fn for_each_element<'b>(
    d: &mut Decoder<'b>,
    len: Option<u64>,
    mut f: impl FnMut(&mut Decoder<'b>) -> Result<(), PacketError>,
) -> Result<(), PacketError> {
    let mut seen = 0u64;
    loop {
        match len {
            Some(n) if seen == n => return Ok(()),
            None if d.datatype()? == Type::Break => {
                d.skip()?;
                return Ok(());
            }
            _ => {}
        }
        f(d)?;
        seen += 1;
    }
}

pub(super) fn fixed<const N: usize>(b: &[u8], what: &'static str) -> Result<[u8; N], PacketError> {
    b.try_into().map_err(|_| PacketError::Invalid(what))
}

fn limited_str(d: &mut Decoder<'_>, max: usize, what: &'static str) -> Result<String, PacketError> {
    let s = d.str()?;
    if s.len() > max {
        return Err(PacketError::OverLimit(what));
    }
    Ok(s.to_string())
}

fn dimension(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, PacketError> {
    let v = d.u64()?;
    if v > MAX_DIMENSION {
        return Err(PacketError::OverLimit(what));
    }
    Ok(v)
}

fn decode_obj(d: &mut Decoder<'_>) -> Result<ObjectMeta, PacketError> {
    let (mut hash, mut size, mut name, mut mime, mut chunks) = (None, None, None, None, None);
    let (mut w, mut h, mut thumb, mut root) = (None, None, None, None);
    for_each_entry(d, |d, key| {
        match key {
            "hash" => hash = Some(fixed::<32>(d.bytes()?, "obj.hash")?),
            "size" => size = Some(d.u64()?),
            "name" => name = Some(limited_str(d, MAX_FILE_NAME, "obj.name")?),
            "mime" => mime = Some(limited_str(d, MAX_MIME, "obj.mime")?),
            "chunks" => chunks = Some(d.u64()?),
            "w" => w = Some(dimension(d, "obj.w")?),
            "h" => h = Some(dimension(d, "obj.h")?),
            "thumb" => {
                let b = d.bytes()?;
                if b.len() > MAX_THUMB {
                    return Err(PacketError::OverLimit("obj.thumb"));
                }
                thumb = Some(b.to_vec());
            }
            "root" => root = Some(fixed::<32>(d.bytes()?, "obj.root")?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    let size = size.ok_or(PacketError::Missing("obj.size"))?;
    let chunks = chunks.ok_or(PacketError::Missing("obj.chunks"))?;
    if chunks != size.div_ceil(super::CHUNK_SIZE) {
        return Err(PacketError::Invalid("obj.chunks"));
    }
    Ok(ObjectMeta {
        hash: hash.ok_or(PacketError::Missing("obj.hash"))?,
        size,
        name: name.ok_or(PacketError::Missing("obj.name"))?,
        mime: mime.ok_or(PacketError::Missing("obj.mime"))?,
        chunks,
        w,
        h,
        thumb,
        root,
    })
}

fn decode_ack(d: &mut Decoder<'_>) -> Result<Vec<[u8; 32]>, PacketError> {
    let mut out = Vec::new();
    for_each_item(d, |d| {
        if out.len() >= MAX_ACKS {
            return Err(PacketError::OverLimit("ack"));
        }
        out.push(fixed::<32>(d.bytes()?, "ack")?);
        Ok(())
    })?;
    Ok(out)
}

/// A chunk's fields: hash, index, bytes, proof.
type ChunkFields = ([u8; 32], u64, Vec<u8>, Vec<[u8; 32]>);

fn decode_chunk(d: &mut Decoder<'_>) -> Result<ChunkFields, PacketError> {
    let (mut hash, mut i, mut data, mut proof) = (None, None, None, Vec::new());
    for_each_entry(d, |d, key| {
        match key {
            "hash" => hash = Some(fixed::<32>(d.bytes()?, "chunk.hash")?),
            "i" => i = Some(d.u64()?),
            "data" => {
                let b = d.bytes()?;
                if b.len() as u64 > super::CHUNK_SIZE {
                    return Err(PacketError::Invalid("chunk.data"));
                }
                data = Some(b.to_vec());
            }
            "proof" => for_each_item(d, |d| {
                if proof.len() >= MAX_PROOF {
                    return Err(PacketError::OverLimit("chunk.proof"));
                }
                proof.push(fixed::<32>(d.bytes()?, "chunk.proof")?);
                Ok(())
            })?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok((
        hash.ok_or(PacketError::Missing("chunk.hash"))?,
        i.ok_or(PacketError::Missing("chunk.i"))?,
        data.ok_or(PacketError::Missing("chunk.data"))?,
        proof,
    ))
}

/// A reaction: empty (removed) or one emoji of at most [`MAX_EMOJI`] bytes, without control
/// characters or spaces.
pub fn valid_reaction(emoji: &str) -> bool {
    emoji.len() <= MAX_EMOJI && !emoji.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn decode_emoji(d: &mut Decoder<'_>) -> Result<String, PacketError> {
    let s = limited_str(d, MAX_EMOJI, "emoji")?;
    if !valid_reaction(&s) {
        return Err(PacketError::Invalid("emoji"));
    }
    Ok(s)
}

/// Largest signed key bundle carried in a `K` packet.
pub const MAX_BUNDLE: usize = 8192;

fn decode_keys(d: &mut Decoder<'_>) -> Result<(Vec<u8>, bool, bool), PacketError> {
    let (mut bundle, mut want, mut reset) = (None, false, false);
    for_each_entry(d, |d, key| {
        match key {
            "b" => {
                let b = d.bytes()?;
                if b.len() > MAX_BUNDLE {
                    return Err(PacketError::Invalid("keys.b"));
                }
                bundle = Some(b.to_vec());
            }
            "want" => want = d.bool()?,
            "reset" => reset = d.bool()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok((bundle.ok_or(PacketError::Missing("keys.b"))?, want, reset))
}

fn decode_need(d: &mut Decoder<'_>) -> Result<([u8; 32], Vec<u64>), PacketError> {
    let (mut hash, mut idx) = (None, None);
    for_each_entry(d, |d, key| {
        match key {
            "hash" => hash = Some(fixed::<32>(d.bytes()?, "need.hash")?),
            "i" => {
                let mut v = Vec::new();
                for_each_item(d, |d| {
                    if v.len() >= MAX_NEEDS {
                        return Err(PacketError::OverLimit("need.i"));
                    }
                    v.push(d.u64()?);
                    Ok(())
                })?;
                idx = Some(v);
            }
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok((hash.ok_or(PacketError::Missing("need.hash"))?, idx.ok_or(PacketError::Missing("need.i"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_length_asked_and_decodes_to_the_same_packet() {
        let p = Packet::new(Body::Chunk { hash: [3; 32], i: 9, data: vec![7; 1000], proof: vec![[1; 32]; 3] });
        let plain = p.encode();
        for len in (plain.len()..plain.len() + 400).chain([70_000, 65_536 + 2_400]) {
            let padded = p.encode_padded_to(len);
            assert!(padded.len() <= len, "{len}: {}", padded.len());
            if len >= plain.len() + 5 {
                assert!(padded.len() + 4 >= len, "{len}: {}", padded.len());
            }
            assert_eq!(Packet::decode(&padded).unwrap(), p, "{len}");
        }
        // Most lengths are met exactly.
        let lengths = (plain.len() + 6..plain.len() + 1_500).chain((65_000..66_000).step_by(7));
        let misses: Vec<usize> = lengths.filter(|l| p.encode_padded_to(*l).len() != *l).collect();
        assert!(misses.len() <= 4, "{misses:?}");
        // Shorter than the packet: nothing added.
        assert_eq!(p.encode_padded_to(10), plain);
    }

    #[test]
    fn every_body_round_trips() {
        let obj = ObjectMeta {
            hash: [9; 32],
            size: 70000,
            name: "a.png".into(),
            mime: "image/png".into(),
            chunks: 2,
            w: Some(3),
            h: None,
            thumb: Some(vec![1, 2]),
            root: Some([8; 32]),
        };
        for body in [
            Body::Text { text: "hi 你好".into() },
            Body::Attachment { kind: AttachKind::Gif, text: None, obj: obj.clone() },
            Body::Attachment { kind: AttachKind::File, text: Some("cap".into()), obj },
            Body::Receipt { ack: vec![[1; 32], [2; 32]] },
            Body::Chunk { hash: [3; 32], i: 7, data: vec![0; 100], proof: Vec::new() },
            Body::Chunk { hash: [3; 32], i: 7, data: vec![0; 100], proof: vec![[4; 32], [5; 32]] },
            Body::Need { hash: [4; 32], i: vec![0, 5, 9] },
            Body::Keys { bundle: vec![1, 2, 3], want: true, reset: false },
            Body::Edit { target: [5; 32], text: "better".into() },
            Body::Delete { target: [6; 32] },
            Body::React { target: [7; 32], emoji: "👍🏽".into() },
            Body::React { target: [7; 32], emoji: String::new() },
            Body::Read { ack: vec![[1; 32]] },
            Body::Typing { on: true },
        ] {
            let p = Packet::new(body);
            assert_eq!(Packet::decode(&p.encode()).unwrap(), p);
        }
    }

    #[test]
    fn a_reply_travels_on_messages_only() {
        let reply = Packet::new(Body::Text { text: "yes".into() }).replying_to(Some([4; 32]));
        assert_eq!(Packet::decode(&reply.encode()).unwrap().reply_to, Some([4; 32]));
        let receipt = Packet::new(Body::Receipt { ack: vec![] }).replying_to(Some([4; 32]));
        assert_eq!(receipt.reply_to, None);
        // An edit's `re` is its target, not a reply.
        let edit = Packet::decode(&Packet::new(Body::Edit { target: [4; 32], text: "x".into() }).encode()).unwrap();
        assert_eq!((edit.reply_to, edit.body.action_target()), (None, Some([4; 32])));
        let long = Packet::new(Body::React { target: [1; 32], emoji: "x".repeat(MAX_EMOJI + 1) });
        assert_eq!(Packet::decode(&long.encode()), Err(PacketError::OverLimit("emoji")));
        let spaced = Packet::new(Body::React { target: [1; 32], emoji: "a b".into() });
        assert_eq!(Packet::decode(&spaced.encode()), Err(PacketError::Invalid("emoji")));
    }

    #[test]
    fn fields_over_their_limits_are_refused() {
        let obj = |name: &str, mime: &str, thumb: usize| ObjectMeta {
            hash: [1; 32],
            size: 1,
            name: name.into(),
            mime: mime.into(),
            chunks: 1,
            w: None,
            h: None,
            thumb: Some(vec![0; thumb]),
            root: None,
        };
        let file = |o| Packet::new(Body::Attachment { kind: AttachKind::File, text: None, obj: o }).encode();
        assert!(Packet::decode(&file(obj(&"n".repeat(255), &"m".repeat(127), MAX_THUMB))).is_ok());
        assert_eq!(Packet::decode(&file(obj(&"n".repeat(256), "m", 0))), Err(PacketError::OverLimit("obj.name")));
        assert_eq!(Packet::decode(&file(obj("n", &"m".repeat(128), 0))), Err(PacketError::OverLimit("obj.mime")));
        assert_eq!(Packet::decode(&file(obj("n", "m", MAX_THUMB + 1))), Err(PacketError::OverLimit("obj.thumb")));
        let acks = Packet::new(Body::Receipt { ack: vec![[0; 32]; MAX_ACKS + 1] });
        assert_eq!(Packet::decode(&acks.encode()), Err(PacketError::OverLimit("ack")));
        let needs = Packet::new(Body::Need { hash: [0; 32], i: vec![0; MAX_NEEDS + 1] });
        assert_eq!(Packet::decode(&needs.encode()), Err(PacketError::OverLimit("need.i")));
        let proof =
            Packet::new(Body::Chunk { hash: [0; 32], i: 0, data: vec![1], proof: vec![[0; 32]; MAX_PROOF + 1] });
        assert_eq!(Packet::decode(&proof.encode()), Err(PacketError::OverLimit("chunk.proof")));
    }

    #[test]
    fn rejects_bad_packets() {
        let good = Packet::new(Body::Text { text: "x".into() }).encode();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Packet::decode(&trailing), Err(PacketError::Trailing));
        assert!(Packet::decode(&good[..good.len() - 1]).is_err());
        assert!(Packet::decode(&[]).is_err());
        assert!(Packet::decode(&[0xff; 10]).is_err());
        let long = Packet::new(Body::Text { text: "x".repeat(MAX_TEXT + 1) }).encode();
        assert_eq!(Packet::decode(&long), Err(PacketError::OverLimit("text")));
    }

    #[test]
    fn a_sender_name_travels_and_an_invalid_one_is_ignored_not_the_message() {
        let named = Packet::new(Body::Text { text: "hi".into() }).with_name(Some("王小明 Wang".into()));
        let back = Packet::decode(&named.encode()).unwrap();
        assert_eq!(back.name.as_deref(), Some("王小明 Wang"));
        assert_eq!(back, named);
        for bad in ["x".repeat(MAX_SENDER_NAME + 1), "a\u{7}b".into(), "   ".into()] {
            assert!(Packet::new(Body::Text { text: "hi".into() }).with_name(Some(bad.clone())).name.is_none());
            // Forged by hand: the message still decodes, without the name.
            let mut forged = named.clone();
            forged.name = Some(bad);
            let back = Packet::decode(&forged.encode()).unwrap();
            assert_eq!((back.name, back.body), (None, named.body.clone()));
        }
        // A name of another type is skipped like an unknown key.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(6).unwrap();
        e.str("v").unwrap().u64(1).unwrap();
        e.str("id").unwrap().bytes(&[7; 16]).unwrap();
        e.str("ts").unwrap().u64(5).unwrap();
        e.str("t").unwrap().str("T").unwrap();
        e.str("name").unwrap().u64(42).unwrap();
        e.str("text").unwrap().str("hi").unwrap();
        let back = Packet::decode(&e.into_writer()).unwrap();
        assert_eq!((back.name, back.body), (None, Body::Text { text: "hi".into() }));
        assert_eq!("x".repeat(MAX_SENDER_NAME).chars().count(), 64);
        assert!(valid_sender_name(&"字".repeat(MAX_SENDER_NAME)), "characters, not bytes");
    }
}
