//! Padding (PROTOCOL.md section 4): `be32(len(c)) || c || zeros` up to `padded(4 + len(c))`.

/// A malformed padded packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaddingError {
    /// Shorter than the 4-byte length prefix.
    #[error("too short")]
    TooShort,
    /// The length prefix points past the end.
    #[error("length prefix points past the end")]
    LengthPastEnd,
    /// The padding bytes are not all zero.
    #[error("padding bytes are not zero")]
    NonZero,
    /// The total length is not `padded(4 + len(c))`.
    #[error("wrong padded length")]
    WrongLength,
}

/// `padded(L)`: 256 for `L <= 256`, else Padmé.
pub fn padded_len(l: usize) -> usize {
    if l <= 256 {
        return 256;
    }
    let e = usize::BITS - 1 - l.leading_zeros(); // floor(log2 L)
    let s = (u32::BITS - 1 - e.leading_zeros()) + 1; // floor(log2 E) + 1
    let z = e - s;
    let m = (1usize << z) - 1;
    (l + m) & !m
}

/// Pads CBOR bytes `c`.
pub fn pad(c: &[u8]) -> Vec<u8> {
    let total = padded_len(4 + c.len());
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&(c.len() as u32).to_be_bytes());
    p.extend_from_slice(c);
    p.resize(total, 0);
    p
}

/// Returns the CBOR bytes inside a padded packet, checking every rule.
pub fn unpad(p: &[u8]) -> Result<&[u8], PaddingError> {
    let prefix: [u8; 4] = p.get(..4).ok_or(PaddingError::TooShort)?.try_into().expect("4 bytes");
    let n = u32::from_be_bytes(prefix) as usize;
    let end = 4usize.checked_add(n).filter(|&e| e <= p.len()).ok_or(PaddingError::LengthPastEnd)?;
    if p[end..].iter().any(|&b| b != 0) {
        return Err(PaddingError::NonZero);
    }
    if p.len() != padded_len(end) {
        return Err(PaddingError::WrongLength);
    }
    Ok(&p[4..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_unpad_round_trip_and_rejections() {
        for n in [0, 1, 252, 253, 1000, 70000] {
            let c = vec![0xabu8; n];
            let p = pad(&c);
            assert_eq!(p.len(), padded_len(4 + n));
            assert_eq!(unpad(&p).unwrap(), &c[..]);
        }
        let mut p = pad(b"hello");
        *p.last_mut().unwrap() = 1;
        assert_eq!(unpad(&p), Err(PaddingError::NonZero));
        let mut p = pad(b"hello");
        p[..4].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(unpad(&p), Err(PaddingError::LengthPastEnd));
        let mut p = pad(b"hello");
        p.extend_from_slice(&[0; 256]);
        assert_eq!(unpad(&p), Err(PaddingError::WrongLength));
        assert_eq!(unpad(&[0, 0]), Err(PaddingError::TooShort));
        let mut huge = vec![0xff; 8];
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(unpad(&huge), Err(PaddingError::LengthPastEnd));
    }
}
