//! Indicator kinds and the one normalisation of each: indicators and event values go through
//! the same function, so equal things compare equal (case, trailing dots, IDN, default ports,
//! percent-escapes of unreserved characters, IPv4-mapped IPv6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// What an indicator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// One IPv4 or IPv6 address.
    Ip,
    /// An address range; the longest matching prefix wins.
    Cidr,
    /// A domain name, exactly.
    Domain,
    /// A domain name or any of its subdomains.
    DomainSuffix,
    /// A URL (normalised).
    Url,
    /// MD5 file hash (32 hex digits).
    Md5,
    /// SHA-1 file hash (40 hex digits).
    Sha1,
    /// SHA-256 file hash (64 hex digits).
    Sha256,
    /// An e-mail address.
    Email,
    /// A substring of any text (ASCII case-insensitive).
    Substring,
}

/// Every kind, in order.
pub const INDICATOR_KINDS: [IndicatorKind; 10] = [
    IndicatorKind::Ip,
    IndicatorKind::Cidr,
    IndicatorKind::Domain,
    IndicatorKind::DomainSuffix,
    IndicatorKind::Url,
    IndicatorKind::Md5,
    IndicatorKind::Sha1,
    IndicatorKind::Sha256,
    IndicatorKind::Email,
    IndicatorKind::Substring,
];

impl IndicatorKind {
    /// The kind's name (`ip`, `cidr`, `domain`, `domain_suffix`, `url`, `md5`, `sha1`,
    /// `sha256`, `email`, `substring`).
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::Domain => "domain",
            IndicatorKind::DomainSuffix => "domain_suffix",
            IndicatorKind::Url => "url",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Email => "email",
            IndicatorKind::Substring => "substring",
        }
    }

    /// Parses a kind name; `hash` and `auto` return `None` (decided per value by
    /// [`guess_kind`]), as do unknown names (`Err`).
    pub fn parse(name: &str) -> Result<Option<IndicatorKind>, String> {
        let k = name.trim().to_ascii_lowercase();
        Ok(Some(match k.as_str() {
            "ip" | "ipv4" | "ipv6" | "ip-src" | "ip-dst" | "ipv4-addr" | "ipv6-addr" => {
                IndicatorKind::Ip
            }
            "cidr" | "net" | "subnet" => IndicatorKind::Cidr,
            "domain" | "hostname" | "domain-name" | "fqdn" => IndicatorKind::Domain,
            "domain_suffix" | "domain-suffix" | "subdomains" => IndicatorKind::DomainSuffix,
            "url" | "uri" | "link" => IndicatorKind::Url,
            "md5" => IndicatorKind::Md5,
            "sha1" | "sha-1" => IndicatorKind::Sha1,
            "sha256" | "sha-256" => IndicatorKind::Sha256,
            "email" | "email-addr" | "email-src" | "email-dst" => IndicatorKind::Email,
            "substring" | "string" => IndicatorKind::Substring,
            "hash" | "auto" | "" => return Ok(None),
            _ => {
                return Err(format!(
                    "unknown indicator kind `{name}` (use ip, cidr, domain, domain_suffix, url, md5, sha1, sha256, hash, email, substring or auto)"
                ));
            }
        }))
    }
}

/// Why a value was not accepted, as a short stable reason (report keys).
pub type Reason = &'static str;

/// An address as 128 bits: IPv4 as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so that
/// `1.2.3.4` and `::ffff:1.2.3.4` are one address and IPv4 prefix `/n` is `/96+n`.
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The text of a 128-bit address: dotted IPv4 for IPv4-mapped addresses.
pub fn ip_text(bits: u128) -> String {
    let v6 = Ipv6Addr::from(bits);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}

fn is_v4_mapped(bits: u128) -> bool {
    bits >> 32 == 0xffff
}

/// Parses one address (surrounding spaces, `[v6]` brackets and an IPv6 zone `%eth0` allowed).
pub fn parse_ip(text: &str) -> Result<u128, Reason> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    let t = t.split('%').next().unwrap_or(t);
    if let Ok(v4) = t.parse::<Ipv4Addr>() {
        return Ok(ip_bits(IpAddr::V4(v4)));
    }
    t.parse::<Ipv6Addr>()
        .map(u128::from)
        .map_err(|_| "invalid IP address")
}

/// Mask of the top `len` bits.
pub fn prefix_mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// Parses `addr/len` (or a bare address = a host prefix) into (network bits, prefix length
/// in the 128-bit space). Host bits are cleared, as Python's `ip_network(strict=False)` does.
pub fn parse_cidr(text: &str) -> Result<(u128, u8), Reason> {
    let t = text.trim();
    let (addr, len) = match t.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (t, None),
    };
    let bits = parse_ip(addr)?;
    let v4 = addr.trim().parse::<Ipv4Addr>().is_ok();
    let len: u8 = match len {
        None => 128,
        Some(l) => {
            let n: u8 = l.trim().parse().map_err(|_| "invalid CIDR prefix length")?;
            if v4 {
                if n > 32 {
                    return Err("CIDR prefix length over 32 for IPv4");
                }
                96 + n
            } else {
                if n > 128 {
                    return Err("CIDR prefix length over 128 for IPv6");
                }
                n
            }
        }
    };
    Ok((bits & prefix_mask(len), len))
}

/// The text of a network: `a.b.c.d/n` for IPv4(-mapped) networks of length >= 96.
pub fn cidr_text(bits: u128, len: u8) -> String {
    if len >= 96 && is_v4_mapped(bits) {
        format!("{}/{}", ip_text(bits), len - 96)
    } else {
        format!("{}/{}", Ipv6Addr::from(bits), len)
    }
}

const MAX_DOMAIN: usize = 253;

/// A domain name lower-cased, without its trailing dot, IDN labels as punycode (`xn--`),
/// through the `idna` crate's UTS 46 processing. Rejects empty names, NULs, spaces, empty
/// labels, labels over 63 bytes and names over 253 bytes.
pub fn normalize_domain(text: &str) -> Result<String, Reason> {
    let t = text.trim();
    let t = t.strip_suffix('.').unwrap_or(t);
    if t.is_empty() {
        return Err("empty domain");
    }
    let ascii = if t.is_ascii() {
        if t.bytes()
            .any(|b| b <= b' ' || b == 0x7f || b"/\\@#?:%<>[]|^\"'`{}".contains(&b))
        {
            return Err("invalid character in domain");
        }
        t.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(t).map_err(|_| "invalid internationalised domain")?
    };
    if ascii.len() > MAX_DOMAIN {
        return Err("domain over 253 bytes");
    }
    if ascii
        .split('.')
        .any(|label| label.is_empty() || label.len() > 63)
    {
        return Err("empty or over-long domain label");
    }
    Ok(ascii)
}

/// The parent suffixes of a normalised domain, itself first: `a.b.c` → `a.b.c`, `b.c`, `c`.
pub fn label_suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::once(domain).chain(
        domain
            .match_indices('.')
            .map(move |(i, _)| domain.get(i + 1..).unwrap_or("")),
    )
}

/// An e-mail address lower-cased (local part too: mail systems treat it case-blind in
/// practice), `<>` and a `mailto:` prefix removed, the domain normalised as a domain.
pub fn normalize_email(text: &str) -> Result<String, Reason> {
    let t = text.trim();
    let t = t.strip_prefix("mailto:").unwrap_or(t);
    let t = t
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(t);
    let (local, domain) = t.rsplit_once('@').ok_or("e-mail address without @")?;
    if local.is_empty() || local.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'@') {
        return Err("invalid e-mail local part");
    }
    let domain = normalize_domain(domain)?;
    Ok(format!("{}@{}", local.to_lowercase(), domain))
}

/// A hash as lower-case hex with its kind by length (32 = MD5, 40 = SHA-1, 64 = SHA-256).
pub fn normalize_hash(text: &str) -> Result<(String, IndicatorKind), Reason> {
    let t = text.trim();
    if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("hash is not hexadecimal");
    }
    let kind = match t.len() {
        32 => IndicatorKind::Md5,
        40 => IndicatorKind::Sha1,
        64 => IndicatorKind::Sha256,
        _ => return Err("hash length is not 32, 40 or 64 hex digits"),
    };
    Ok((t.to_ascii_lowercase(), kind))
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 6.2.2: percent-escapes of unreserved characters decoded, the others' hex upper-cased.
fn normalize_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            )
        {
            let v = h * 16 + l;
            if unreserved(v) {
                out.push(v as char);
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
            }
            i += 3;
            continue;
        }
        let ch_len = s
            .get(i..)
            .and_then(|r| r.chars().next())
            .map_or(1, char::len_utf8);
        out.push_str(s.get(i..i + ch_len).unwrap_or(""));
        i += ch_len;
    }
    out
}

/// A URL normalised with the `url` crate (WHATWG parsing: scheme and host lower-cased, IDN
/// hosts as punycode, default port dropped, dot segments resolved), then percent-escapes of
/// unreserved characters decoded. A URL without a scheme is read as `http://`.
pub fn normalize_url(text: &str) -> Result<String, Reason> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty URL");
    }
    if t.contains('\0') {
        return Err("NUL in URL");
    }
    let with_scheme;
    let t = if t.contains("://") || t.starts_with("mailto:") {
        t
    } else {
        with_scheme = format!("http://{t}");
        &with_scheme
    };
    let mut u = url::Url::parse(t).map_err(|_| "invalid URL")?;
    if u.host_str().is_some_and(|h| h.ends_with('.')) {
        let h = u.host_str().unwrap_or("").trim_end_matches('.').to_string();
        u.set_host(Some(&h)).map_err(|_| "invalid URL host")?;
    }
    Ok(normalize_escapes(u.as_str()))
}

/// The host of a normalised URL, if it has a domain name.
pub fn url_host(normalized: &str) -> Option<&str> {
    let rest = normalized.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = rest.get(..end)?;
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') => h,
        Some((h, _)) if h.starts_with('[') => return None,
        _ => host,
    };
    Some(host)
}

/// Decides the kind of a bare value (plain lists, `auto`, `hash`): an address, a network, a
/// hash by length, an e-mail, a URL (has `://`), else a domain.
pub fn guess_kind(text: &str) -> Result<IndicatorKind, Reason> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty value");
    }
    if parse_ip(t).is_ok() {
        return Ok(IndicatorKind::Ip);
    }
    if t.contains('/') && !t.contains("://") && parse_cidr(t).is_ok() {
        return Ok(IndicatorKind::Cidr);
    }
    if let Ok((_, k)) = normalize_hash(t) {
        return Ok(k);
    }
    if t.contains("://") {
        return Ok(IndicatorKind::Url);
    }
    if t.contains('@') {
        return Ok(IndicatorKind::Email);
    }
    if t.contains('/') {
        return Ok(IndicatorKind::Url);
    }
    normalize_domain(t).map(|_| IndicatorKind::Domain)
}

/// A normalised indicator value: the key text, its kind (hashes resolved by length) and, for
/// networks, the bits and prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    /// The canonical text.
    pub text: String,
    /// The kind (a `hash` or `auto` given on input is resolved here).
    pub kind: IndicatorKind,
    /// Network bits and prefix length (IP and CIDR kinds).
    pub net: Option<(u128, u8)>,
}

/// Normalises `value` as `kind` (`None` = decide per value).
pub fn normalize(value: &str, kind: Option<IndicatorKind>) -> Result<Normalized, Reason> {
    if value.contains('\0') {
        return Err("NUL in value");
    }
    let kind = match kind {
        Some(k) => k,
        None => guess_kind(value)?,
    };
    let (text, kind, net) = match kind {
        IndicatorKind::Ip => {
            let bits = parse_ip(value)?;
            (ip_text(bits), kind, Some((bits, 128)))
        }
        IndicatorKind::Cidr => {
            let (bits, len) = parse_cidr(value)?;
            let k = if len == 128 {
                IndicatorKind::Ip
            } else {
                IndicatorKind::Cidr
            };
            let text = if len == 128 {
                ip_text(bits)
            } else {
                cidr_text(bits, len)
            };
            (text, k, Some((bits, len)))
        }
        IndicatorKind::Domain | IndicatorKind::DomainSuffix => {
            let v = value.trim();
            let v = v.strip_prefix("*.").unwrap_or(v);
            (normalize_domain(v)?, kind, None)
        }
        IndicatorKind::Url => (normalize_url(value)?, kind, None),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            let (text, k) = normalize_hash(value)?;
            if k != kind {
                return Err("hash length does not match its kind");
            }
            (text, k, None)
        }
        IndicatorKind::Email => (normalize_email(value)?, kind, None),
        IndicatorKind::Substring => {
            if value.is_empty() {
                return Err("empty substring");
            }
            (value.to_string(), kind, None)
        }
    };
    Ok(Normalized { text, kind, net })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            normalize_domain("ExAmple.COM.").as_deref(),
            Ok("example.com")
        );
        assert_eq!(
            normalize_domain("bücher.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("a\0b").is_err());
        assert_eq!(
            normalize_url("HTTP://Example.COM:80/%7Efoo/%2f?a=%41").as_deref(),
            Ok("http://example.com/~foo/%2F?a=A")
        );
        assert_eq!(
            normalize_url("example.com/x").as_deref(),
            Ok("http://example.com/x")
        );
        assert_eq!(
            normalize("1.2.3.4/24", Some(IndicatorKind::Cidr)).map(|n| n.text),
            Ok("1.2.3.0/24".to_string())
        );
        assert_eq!(parse_ip("::ffff:1.2.3.4"), parse_ip("1.2.3.4"));
        assert_eq!(ip_text(parse_ip("::FFFF:1.2.3.4").unwrap_or(0)), "1.2.3.4");
        assert_eq!(
            label_suffixes("a.b.c").collect::<Vec<_>>(),
            vec!["a.b.c", "b.c", "c"]
        );
        assert_eq!(
            url_host("http://user@example.com:8080/x"),
            Some("example.com")
        );
        assert_eq!(
            normalize_email("<Bob@Example.COM>").as_deref(),
            Ok("bob@example.com")
        );
    }
}
