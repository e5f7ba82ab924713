//! Typed values of the protocol: a message's hash and a message's kind.

use std::fmt;
use std::str::FromStr;

use super::AttachKind;

/// The name of a message: SHA-256 of its CBOR packet exactly as sent (PROTOCOL.md section 6).
/// It identifies the message in the history, in receipts and for de-duplication.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageHash(pub [u8; 32]);

impl MessageHash {
    /// The hash of a CBOR packet.
    pub fn of(cbor: &[u8]) -> Self {
        Self(crate::crypto::sha256(cbor))
    }

    /// Lowercase hex (64 characters), as stored and printed.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A string that is not 64 hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message hash is 64 hexadecimal characters")]
pub struct BadHash;

impl FromStr for MessageHash {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, BadHash> {
        let bytes = hex::decode(s.trim()).map_err(|_| BadHash)?;
        Ok(Self(bytes.try_into().map_err(|_| BadHash)?))
    }
}

impl fmt::Display for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageHash({})", &self.to_hex()[..16])
    }
}

impl serde::Serialize for MessageHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl PartialEq<str> for MessageHash {
    fn eq(&self, other: &str) -> bool {
        other.parse::<Self>().is_ok_and(|h| h == *self)
    }
}

impl PartialEq<String> for MessageHash {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

/// What a stored message is: the packet type letter of a message (not of a control packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `T`: text.
    Text,
    /// `I`: a still image.
    Image,
    /// `G`: a GIF.
    Gif,
    /// `M`: a video.
    Video,
    /// `F`: any other file.
    File,
}

impl MessageKind {
    /// The type letter (`t` in the packet, `type` in the `message` table).
    pub fn letter(self) -> char {
        match self {
            Self::Text => 'T',
            Self::Image => 'I',
            Self::Gif => 'G',
            Self::Video => 'M',
            Self::File => 'F',
        }
    }

    /// The kind of a type letter, if it names a message.
    pub fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'T' => Self::Text,
            'I' => Self::Image,
            'G' => Self::Gif,
            'M' => Self::Video,
            'F' => Self::File,
            _ => return None,
        })
    }

    /// The attachment kind, for everything but text.
    pub fn attachment(self) -> Option<AttachKind> {
        match self {
            Self::Text => None,
            Self::Image => Some(AttachKind::Image),
            Self::Gif => Some(AttachKind::Gif),
            Self::Video => Some(AttachKind::Video),
            Self::File => Some(AttachKind::File),
        }
    }
}

impl From<AttachKind> for MessageKind {
    fn from(k: AttachKind) -> Self {
        match k {
            AttachKind::Image => Self::Image,
            AttachKind::Gif => Self::Gif,
            AttachKind::Video => Self::Video,
            AttachKind::File => Self::File,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_kinds_round_trip() {
        let h = MessageHash::of(b"packet");
        assert_eq!(h.to_hex().parse::<MessageHash>().unwrap(), h);
        assert!(h == h.to_hex());
        assert_eq!("12".parse::<MessageHash>(), Err(BadHash));
        for k in [MessageKind::Text, MessageKind::Image, MessageKind::Gif, MessageKind::Video, MessageKind::File] {
            assert_eq!(MessageKind::from_letter(k.letter()), Some(k));
        }
        assert_eq!(MessageKind::from_letter('R'), None);
    }
}
