//! `wochat:` contact links: `wochat:<address>?name=<percent-encoded display name>`.

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::crypto::{Address, AddressError};

/// A parsed contact: an address and an optional suggested name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The address.
    pub address: Address,
    /// The name the link suggests, if any (only a suggestion).
    pub name: Option<String>,
}

/// Parses either a bare address or a `wochat:` link.
pub fn parse_contact(input: &str) -> Result<Contact, AddressError> {
    let input = input.trim();
    let Some(rest) = input.strip_prefix("wochat:") else {
        return Ok(Contact { address: input.parse()?, name: None });
    };
    let rest = rest.trim_start_matches("//");
    let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
    let address = addr.parse()?;
    let name = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "name")
        .map(|(_, v)| clean_display_name(&percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy()))
        .filter(|n| !n.is_empty());
    Ok(Contact { address, name })
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A display name as stored and shown: control characters removed, spaces trimmed, at most
/// [`MAX_NAME_CHARS`] characters (whatever a link or a form carried).
pub fn clean_display_name(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).collect();
    cleaned.trim().chars().take(MAX_NAME_CHARS).collect::<String>().trim_end().to_string()
}

/// The link for `address`, suggesting `name` when it is not empty.
pub fn make_link(address: &Address, name: &str) -> String {
    if name.trim().is_empty() {
        format!("wochat:{address}")
    } else {
        format!("wochat:{address}?name={}", utf8_percent_encode(name.trim(), NON_ALPHANUMERIC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "03d510f6e6dd5ee14a14a5f1cfc407d33363c38c4a02cfa322378476d2019c0e3b";

    #[test]
    fn links_round_trip_with_unicode_names() {
        let a: Address = A.parse().unwrap();
        let link = make_link(&a, "王小明 & co");
        let c = parse_contact(&link).unwrap();
        assert_eq!(c.address, a);
        assert_eq!(c.name.as_deref(), Some("王小明 & co"));
        assert_eq!(parse_contact(A).unwrap(), Contact { address: a, name: None });
        assert_eq!(parse_contact(&format!("wochat:{A}")).unwrap().name, None);
        assert!(parse_contact("wochat:1234").is_err());
        let long = parse_contact(&format!("wochat:{A}?name={}%0A%1B", "%E5%90%8D".repeat(100))).unwrap();
        assert_eq!(long.name, Some("名".repeat(MAX_NAME_CHARS)));
    }
}
