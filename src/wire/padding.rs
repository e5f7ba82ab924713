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
    padme(l as u64) as usize
}

/// Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication
/// with PURBs", 2019): `len` rounded up so that only its top `log2(log2(len)) + 1` bits vary;
/// at most 12 % larger.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros()); // floor(log2 len)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let mask = (1u64 << (e - s)) - 1;
    len.saturating_add(mask) & !mask
}

/// How many chunk packets carry a file of `size` bytes when its size is padded on the wire
/// (docs/PROTOCOL.md section 11): its Padmé length in whole chunks.
pub fn padded_chunks(size: u64) -> u64 {
    padme(size).div_ceil(super::CHUNK_SIZE)
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
