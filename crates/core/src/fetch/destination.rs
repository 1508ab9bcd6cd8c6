//! Where the issuer may send a request: the one rule for every URL that someone other
//! than the operator chooses and the issuer then fetches (an app's `jwks_uri` today;
//! upstream identity providers and webhooks when they come).
//!
//! A registered URL is a request the issuer makes on the registrant's behalf, from
//! inside the operator's network (server-side request forgery, OWASP SSRF). So by
//! default a destination must be `https` and must not name the machine itself or a
//! private network: no IP literal in loopback, private (RFC 1918), link-local,
//! unique-local (`fc00::/7`), unspecified, shared (CGNAT `100.64.0.0/10`) or other
//! special-purpose ranges that are not globally reachable, including those
//! addresses written inside IPv6 (IPv4-mapped, IPv4-compatible, NAT64 and 6to4),
//! and no `localhost` or `*.localhost` name. The host is read the way a browser or
//! workerd reads it (WHATWG URL), so `127.1`, `2130706433` and `0x7f.0.0.1` are the
//! loopback address they are.
//!
//! The rule runs twice: when the URL is registered (a 400 naming the field) and
//! before every fetch (a record written under another policy is not trusted).
//!
//! # Security
//!
//! Names are not resolved here: a public name whose DNS answer is a private address
//! is not caught (on Cloudflare's network a Worker's `fetch` does not reach the
//! operator's private network in the first place). The opt-out,
//! [`FetchPolicy::InsecureAllowPrivate`], exists for local development and tests,
//! whose key servers run on `127.0.0.1` over plain `http`; it is the
//! `INSECURE_ALLOW_PRIVATE_FETCH=true` variable and must never be set in production.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::types::InvalidValue;

/// The longest URL accepted.
const MAX_URL_LEN: usize = 2000;

/// Which destinations outbound requests may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchPolicy {
    /// `https` to public hosts only (the default).
    #[default]
    PublicHttpsOnly,
    /// Also plain `http`, loopback, private networks and `localhost`: for local
    /// development and tests only.
    ///
    /// # Security
    ///
    /// Lets anyone who may register an app make the issuer send requests into the
    /// network it runs in. Set only through `INSECURE_ALLOW_PRIVATE_FETCH=true`.
    InsecureAllowPrivate,
}

/// A URL the issuer may fetch under the policy it was checked with: `https` (or
/// `http` under [`FetchPolicy::InsecureAllowPrivate`]), a host, no user info, no
/// fragment. Stored as registered; [`check_destination`] runs again before each
/// fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FetchUrl(String);

impl FetchUrl {
    /// Validates a URL to fetch under `policy`.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying which rule failed.
    pub fn new(value: &str, policy: FetchPolicy) -> Result<Self, InvalidValue> {
        check_destination(value, policy)?;
        Ok(Self(value.to_owned()))
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether the issuer may send a request to `url` under `policy`.
///
/// # Errors
///
/// [`InvalidValue`] saying which rule failed (for a problem document or the log).
pub fn check_destination(url: &str, policy: FetchPolicy) -> Result<(), InvalidValue> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(InvalidValue("must be 1 to 2000 characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
        return Err(InvalidValue("must not contain spaces, control or non-ascii characters"));
    }
    if url.contains('#') {
        return Err(InvalidValue("must not contain a fragment"));
    }
    let uri: http::Uri = url.parse().map_err(|_| InvalidValue("must be a valid url"))?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let insecure = policy == FetchPolicy::InsecureAllowPrivate;
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") if insecure => {}
        Some("http") => return Err(InvalidValue("must use https")),
        _ => return Err(InvalidValue("must be an https url")),
    }
    let authority = uri.authority().ok_or(InvalidValue("must have a host"))?;
    if authority.as_str().contains('@') {
        return Err(InvalidValue("must not carry user info"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(InvalidValue("must have a host"));
    }
    if host.contains('%') || host.contains('\\') {
        return Err(InvalidValue("must not escape characters in the host"));
    }
    if insecure {
        return Ok(());
    }
    match Host::parse(host)? {
        Host::V4(ip) if !is_public_v4(ip) => Err(PRIVATE),
        Host::V6(ip) if !is_public_v6(ip) => Err(PRIVATE),
        Host::Name(name) if is_localhost(&name) => Err(PRIVATE),
        _ => Ok(()),
    }
}

const PRIVATE: InvalidValue =
    InvalidValue("must not point to a loopback, private or other non-public address");

/// A URL host as the WHATWG URL standard reads it (section 3.5, host parsing),
/// for the ASCII hosts without percent escapes that [`check_destination`] lets
/// through.
#[derive(Debug, PartialEq, Eq)]
enum Host {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(String),
}

impl Host {
    fn parse(host: &str) -> Result<Self, InvalidValue> {
        if let Some(inner) = host.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(InvalidValue("must be a valid url"))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Self::V6)
                .map_err(|_| InvalidValue("must have a valid ipv6 address"));
        }
        let name = host.to_ascii_lowercase();
        if ends_in_a_number(&name) {
            return parse_whatwg_ipv4(&name)
                .map(Self::V4)
                .ok_or(InvalidValue("must have a valid ipv4 address"));
        }
        Ok(Self::Name(name))
    }
}

/// WHATWG "ends in a number": the last label (ignoring one trailing dot) is all
/// digits, or `0x` followed by hex digits. Such a host is an IPv4 address or invalid.
fn ends_in_a_number(host: &str) -> bool {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let last = trimmed.rsplit('.').next().unwrap_or(trimmed);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    last.strip_prefix("0x").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The WHATWG IPv4 parser: one to four parts, each decimal, octal (leading `0`) or
/// hex (`0x`), the last filling the remaining bytes.
fn parse_whatwg_ipv4(host: &str) -> Option<Ipv4Addr> {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = trimmed.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        numbers.push(parse_ipv4_number(part)?);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let free_bits = 8 * (5 - u32::try_from(numbers.len()).ok()?);
    if u64::from(*last) >= 1u64 << free_bits {
        return None;
    }
    let mut address = u64::from(*last);
    for (i, n) in init.iter().enumerate() {
        address += u64::from(*n) << (8 * (3 - i));
    }
    u32::try_from(address).ok().map(Ipv4Addr::from)
}

fn parse_ipv4_number(part: &str) -> Option<u32> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(octal) = part.strip_prefix('0').filter(|rest| !rest.is_empty()) {
        (octal, 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    // `from_str_radix` would also take a sign; WHATWG takes digits only.
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an IPv4 address is globally reachable (IANA IPv4 Special-Purpose Address
/// Registry, RFC 6890): not "this network", private, shared, loopback, link-local,
/// IETF protocol assignments, documentation, benchmarking, multicast or reserved.
fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                    // 0.0.0.0/8, "this network"
        || a == 10                              // 10.0.0.0/8, RFC 1918
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10, shared (CGNAT)
        || a == 127                             // 127.0.0.0/8, loopback
        || (a == 169 && b == 254)               // 169.254.0.0/16, link-local
        || (a == 172 && (16..32).contains(&b))  // 172.16.0.0/12, RFC 1918
        || (a == 192 && b == 0 && c == 0)       // 192.0.0.0/24, IETF assignments
        || (a == 192 && b == 0 && c == 2)       // 192.0.2.0/24, documentation
        || (a == 192 && b == 168)               // 192.168.0.0/16, RFC 1918
        || (a == 198 && (18..20).contains(&b))  // 198.18.0.0/15, benchmarking
        || (a == 198 && b == 51 && c == 100)    // 198.51.100.0/24, documentation
        || (a == 203 && b == 0 && c == 113)     // 203.0.113.0/24, documentation
        || a >= 224) // multicast, reserved, broadcast
}

/// Whether an IPv6 address is globally reachable; an IPv4 address written inside it
/// (mapped, compatible, NAT64, 6to4) must be public itself.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [h1, h2] = hi.to_be_bytes();
        let [l1, l2] = lo.to_be_bytes();
        Ipv4Addr::new(h1, h2, l1, l2)
    };
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => {
            return is_public_v4(embedded(hi, lo));
        }
        // 64:ff9b::a.b.c.d (NAT64, RFC 6052)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return is_public_v4(embedded(hi, lo)),
        // 2002:AABB:CCDD::/48 (6to4, RFC 3056)
        [0x2002, hi, lo, ..] => return is_public_v4(embedded(hi, lo)),
        _ => {}
    }
    let [first, ..] = s;
    !((first & 0xfe00) == 0xfc00                 // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80            // fe80::/10, link-local
        || (first & 0xffc0) == 0xfec0            // fec0::/10, site-local (deprecated)
        || (first & 0xff00) == 0xff00            // ff00::/8, multicast
        || matches!(s, [0x64, 0xff9b, 1, ..])    // 64:ff9b:1::/48, local NAT64
        || matches!(s, [0x2001, 0x0db8, ..])     // 2001:db8::/32, documentation
        || matches!(s, [0x0100, 0, 0, 0, ..])    // 100::/64, discard
        || first == 0) // ::/16 and the rest of the reserved low range
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: FetchPolicy = FetchPolicy::PublicHttpsOnly;
    const INSECURE: FetchPolicy = FetchPolicy::InsecureAllowPrivate;

    #[test]
    fn public_https_urls_pass() {
        for url in [
            "https://keys.example.com/jwks.json",
            "https://keys.example.com:8443/jwks?x=1",
            "https://93.184.215.14/jwks",
            "https://[2606:4700::6810:84e5]/jwks",
            "https://localhost.example.com/jwks",
            "https://mylocalhost/jwks",
            "https://1.example/jwks",
            "https://172.32.0.1/",
            "https://100.128.0.1/",
            "https://[::ffff:93.184.215.14]/",
        ] {
            assert_eq!(check_destination(url, PUBLIC), Ok(()), "{url}");
        }
    }

    #[test]
    fn private_and_local_destinations_are_refused() {
        for url in [
            "https://127.0.0.1/jwks",
            "https://127.8.9.10/",
            "https://10.0.0.1/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://100.127.255.255/",
            "https://0.0.0.0/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:10.1.2.3]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:c0a8:101::1]/",
            "https://localhost/jwks",
            "https://LOCALHOST/jwks",
            "https://localhost./jwks",
            "https://keys.localhost/jwks",
            "https://a.b.LocalHost/jwks",
        ] {
            assert!(check_destination(url, PUBLIC).is_err(), "{url}");
            assert_eq!(check_destination(url, INSECURE), Ok(()), "{url} under the opt-out");
        }
    }

    /// Hosts a browser or workerd reads as an IPv4 address although they do not
    /// look like one (WHATWG URL, IPv4 parser).
    #[test]
    fn other_spellings_of_private_addresses_are_refused() {
        for url in [
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0x7f.0.0.1/",
            "https://0177.0.0.1/",
            "https://017700000001/",
            "https://10.1/",
            "https://192.168.257/",
            "https://127.0.0.1./",
            "https://0/",
            "https://0x0/",
            "https://169.254.43518/",
        ] {
            assert!(check_destination(url, PUBLIC).is_err(), "{url}");
        }
        assert_eq!(parse_whatwg_ipv4("127.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(parse_whatwg_ipv4("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(parse_whatwg_ipv4("2130706433"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(parse_whatwg_ipv4("0300.0250.0.1"), Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(parse_whatwg_ipv4("1.2.3.4.5"), None);
        assert_eq!(parse_whatwg_ipv4("256.1.1.1"), None);
        assert_eq!(parse_whatwg_ipv4("1.2.65536"), None);
        assert_eq!(parse_whatwg_ipv4("1.+2.3.4"), None);
        assert_eq!(parse_whatwg_ipv4("1..3.4"), None);
        assert_eq!(parse_whatwg_ipv4("08.1.1.1"), None);
    }

    #[test]
    fn malformed_or_plain_http_urls_are_refused() {
        for url in [
            "",
            "http://keys.example.com/jwks",
            "ftp://keys.example.com/jwks",
            "file:///etc/passwd",
            "/jwks.json",
            "https://user:pass@keys.example.com/",
            "https://keys.example.com/jwks#frag",
            "https://keys.example.com/a b",
            "https://127.0.0.%31/",
            "https://ke%79s.example.com/",
            "https://kéys.example.com/",
            "https://[::1/",
            "https://[1.2.3.4]/",
            "https://1.2.3.4.5/",
            "https://256.0.0.1/",
        ] {
            assert!(check_destination(url, PUBLIC).is_err(), "{url}");
        }
        assert_eq!(check_destination("http://127.0.0.1:8080/jwks", INSECURE), Ok(()));
        assert!(check_destination("ftp://127.0.0.1/", INSECURE).is_err());
        assert!(check_destination("https://u@127.0.0.1/", INSECURE).is_err());
    }

    #[test]
    fn fetch_urls_are_checked_with_their_policy() {
        assert!(FetchUrl::new("https://keys.example.com/jwks", PUBLIC).is_ok());
        assert!(FetchUrl::new("http://127.0.0.1:9/jwks", PUBLIC).is_err());
        let url = FetchUrl::new("http://127.0.0.1:9/jwks", INSECURE).unwrap();
        assert_eq!(serde_json::to_string(&url).unwrap(), r#""http://127.0.0.1:9/jwks""#);
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(s in "\\PC{0,120}") {
            let _ = check_destination(&s, PUBLIC);
            let _ = check_destination(&format!("https://{s}/"), PUBLIC);
        }
    }
}
