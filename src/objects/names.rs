//! Names from peers are for display only: turning one into a safe file name in a directory the
//! user picked, without ever overwriting a file.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

/// Longest sanitized name, in bytes (well under every common file-system limit).
pub const MAX_NAME_BYTES: usize = 200;

const RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "conin$", "conout$",
];

/// Whether `c` may not appear in a saved name: separators, characters Windows forbids,
/// control characters, and bidirectional or invisible formatting characters that can disguise
/// an extension (U+202E...).
fn forbidden(c: char) -> bool {
    matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        || c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// A file name safe on Windows, macOS and Linux made from a peer's display name: no
/// separators, no `..`, no control or bidi characters, not a reserved device name, at most
/// [`MAX_NAME_BYTES`] bytes (the extension kept when possible). Never empty.
pub fn sanitize_file_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if forbidden(c) { '_' } else { c }).collect();
    // No leading dots (hidden files, "..") and no trailing dots or spaces (Windows strips them).
    let trimmed = cleaned.trim_matches(|c: char| c == ' ').trim_start_matches('.').trim_end_matches(['.', ' ']);
    let mut out = if trimmed.is_empty() { "file".to_string() } else { trimmed.to_string() };
    let stem = out.split('.').next().unwrap_or("").to_ascii_lowercase();
    if RESERVED.contains(&stem.trim_end()) {
        out.insert(0, '_');
    }
    truncate_keeping_extension(&out, MAX_NAME_BYTES)
}

/// `name` cut to at most `max` bytes on a character boundary, its extension kept when it has a
/// short one (how a long file name is sent: the wire allows 255 bytes).
pub fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut end = max - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

/// Creates a new, empty file for `name` in `dir` without overwriting anything: `name`, then
/// `name (1)`, `name (2)`... Returns its path (the file exists and is empty).
pub fn create_unique(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let safe = sanitize_file_name(name);
    let (stem, ext) = match safe.rfind('.') {
        Some(i) if i > 0 => (&safe[..i], &safe[i..]),
        _ => (safe.as_str(), ""),
    };
    for n in 0..10_000u32 {
        let candidate = if n == 0 { safe.clone() } else { format!("{stem} ({n}){ext}") };
        let path = dir.join(&candidate);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "too many files with this name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe() {
        assert_eq!(sanitize_file_name("../../x"), "_.._x");
        assert_eq!(sanitize_file_name("a/b"), "a_b");
        assert_eq!(sanitize_file_name("..\\..\\evil.exe"), "_.._evil.exe");
        assert_eq!(sanitize_file_name("con.txt"), "_con.txt");
        assert_eq!(sanitize_file_name("LPT1"), "_LPT1");
        assert_eq!(sanitize_file_name("photo\u{202E}gnp.exe"), "photo_gnp.exe");
        assert_eq!(sanitize_file_name("..."), "file");
        assert_eq!(sanitize_file_name(""), "file");
        assert_eq!(sanitize_file_name("tab\there\n"), "tab_here_");
        assert_eq!(sanitize_file_name("照片.jpg"), "照片.jpg");
        let long = sanitize_file_name(&format!("{}.png", "长".repeat(10_000)));
        assert!(long.len() <= MAX_NAME_BYTES && long.ends_with(".png"), "{long}");
        let long = sanitize_file_name(&"x".repeat(10_000));
        assert_eq!(long.len(), MAX_NAME_BYTES);
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"keep").unwrap();
        let p1 = create_unique(dir.path(), "a.txt").unwrap();
        let p2 = create_unique(dir.path(), "a.txt").unwrap();
        assert_eq!(p1.file_name().unwrap(), "a (1).txt");
        assert_eq!(p2.file_name().unwrap(), "a (2).txt");
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"keep");
    }
}
