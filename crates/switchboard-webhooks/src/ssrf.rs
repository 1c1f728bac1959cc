//! Server-side request forgery protection: a tenant chooses the URL we post to, so without care
//! it could make the server call its own admin ports, the cloud's metadata service
//! (169.254.169.254) or anything else on the private network. Every address a delivery could
//! reach is vetted here; only an operator's explicit allow-list opens internal targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// Why an address may not be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("a loopback address")]
    Loopback,
    #[error("a private-network address")]
    Private,
    #[error("a link-local address")]
    LinkLocal,
    #[error("a multicast address")]
    Multicast,
    #[error("a carrier-grade NAT (shared) address")]
    SharedAddressSpace,
    #[error("an unspecified address")]
    Unspecified,
    #[error("a broadcast address")]
    Broadcast,
    #[error("a reserved or documentation address")]
    Reserved,
}

/// Classifies an address: `Some(reason)` when it is not a public unicast address.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => Blocked::Unspecified,
        (0, _, _) => Blocked::Unspecified,
        (127, _, _) => Blocked::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Blocked::Private,
        (169, 254, _) => Blocked::LinkLocal,
        (100, 64..=127, _) => Blocked::SharedAddressSpace,
        (224..=239, _, _) => Blocked::Multicast,
        _ if ip.is_broadcast() => Blocked::Broadcast,
        // IETF protocol assignments, the documentation nets, benchmarking, 240/4.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) => {
            Blocked::Reserved
        }
        (240..=255, _, _) => Blocked::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    if ip.is_unspecified() {
        return Some(Blocked::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Blocked::Loopback);
    }
    // Addresses that carry an IPv4 address are judged by it: mapped (::ffff:a.b.c.d),
    // compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48).
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4).or(if ip.segments()[..6] == [0; 6] {
            // ::a.b.c.d with a public a.b.c.d is deprecated and never routed.
            Some(Blocked::Reserved)
        } else {
            None
        });
    }
    let s = ip.segments();
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => Blocked::Private, // fc00::/7 unique local
        x if x & 0xffc0 == 0xfe80 => Blocked::LinkLocal, // fe80::/10
        x if x & 0xffc0 == 0xfec0 => Blocked::Private, // fec0::/10 site local
        x if x & 0xff00 == 0xff00 => Blocked::Multicast, // ff00::/8
        0x2001 if s[1] == 0x0db8 => Blocked::Reserved, // documentation
        0x2001 if s[1] == 0 => Blocked::Reserved,      // Teredo: hides its real target
        0x0100 if s[1..4] == [0, 0, 0] => Blocked::Reserved, // discard-only
        x if x & 0xe000 != 0x2000 => Blocked::Reserved, // outside global unicast 2000::/3
        _ => return None,
    })
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// An address range in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not an address range such as 10.0.0.0/8 or ::1/128");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { net, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in this range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(u128::from(n), u128::from(a), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    a & mask == b & mask
}

/// Which addresses deliveries may reach: every public address, plus the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<Cidr>,
}

impl AddressPolicy {
    /// A policy that also lets through the given ranges (e.g. a local receiver in tests, or an
    /// operator's internal integration host).
    pub fn with_allow_list(allow: Vec<Cidr>) -> Self {
        Self { allow }
    }

    /// `Err(reason)` when a delivery may not connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        match classify(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|c| c.contains(ip)) => Ok(()),
            Some(reason) => Err(reason),
        }
    }
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the URL does not parse: {0}")]
    Malformed(String),
    #[error("only http and https URLs are accepted")]
    Scheme,
    #[error("the URL may not carry a user name or password")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL points to {0}")]
    Blocked(Blocked),
}

/// Checks an endpoint URL's form, and its host when it is an address literal. Names are vetted
/// when they are resolved (see [`crate::client`]).
pub fn validate_url(raw: &str, policy: &AddressPolicy) -> Result<url::Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let url = url::Url::parse(raw).map_err(|e| UrlError::Malformed(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    match url.host() {
        None => return Err(UrlError::NoHost),
        Some(url::Host::Ipv4(ip)) => policy.check(IpAddr::V4(ip)).map_err(UrlError::Blocked)?,
        Some(url::Host::Ipv6(ip)) => policy.check(IpAddr::V6(ip)).map_err(UrlError::Blocked)?,
        Some(url::Host::Domain("")) => return Err(UrlError::NoHost),
        Some(url::Host::Domain(_)) => {}
    }
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_non_public_range_is_blocked() {
        use Blocked::*;
        let table: &[(&str, Option<Blocked>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.2.10", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::127.0.0.1", Some(Loopback)),
            ("::8.8.8.8", Some(Reserved)),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("2002:c0a8:0101::1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("fec0::1", Some(Private)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Reserved)),
            ("2001:0:4136:e378::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            // Public unicast passes.
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
            ("2606:4700:4700::1111", None),
        ];
        for (ip, expected) in table {
            assert_eq!(classify(ip.parse().unwrap()), *expected, "{ip}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let policy = AddressPolicy::with_allow_list(vec![
            "127.0.0.1".parse().unwrap(),
            "10.20.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        for ok in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "10.20.3.4",
            "fd00::5",
            "8.8.8.8",
        ] {
            assert_eq!(policy.check(ok.parse().unwrap()), Ok(()), "{ok}");
        }
        for no in [
            "127.0.0.2",
            "10.21.0.1",
            "fc00::1",
            "169.254.169.254",
            "::1",
        ] {
            assert!(policy.check(no.parse().unwrap()).is_err(), "{no}");
        }
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        let p = AddressPolicy::default();
        assert!(validate_url("https://hooks.example.com/x?y=1", &p).is_ok());
        assert!(validate_url("http://8.8.8.8:8080/", &p).is_ok());
        let cases: &[(&str, UrlError)] = &[
            ("ftp://example.com/", UrlError::Scheme),
            ("file:///etc/passwd", UrlError::Scheme),
            ("javascript:alert(1)", UrlError::Scheme),
            ("https://user:pw@example.com/", UrlError::Credentials),
            ("https://user@example.com/", UrlError::Credentials),
            (
                "http://127.0.0.1:9000/",
                UrlError::Blocked(Blocked::Loopback),
            ),
            ("http://[::1]/", UrlError::Blocked(Blocked::Loopback)),
            (
                "http://[::ffff:a9fe:a9fe]/",
                UrlError::Blocked(Blocked::LinkLocal),
            ),
            (
                "http://169.254.169.254/latest/meta-data/",
                UrlError::Blocked(Blocked::LinkLocal),
            ),
            ("http://0x7f000001/", UrlError::Blocked(Blocked::Loopback)),
            ("http://2130706433/", UrlError::Blocked(Blocked::Loopback)),
            ("http://10.0.0.1/", UrlError::Blocked(Blocked::Private)),
        ];
        for (url, expected) in cases {
            assert_eq!(validate_url(url, &p).unwrap_err(), *expected, "{url}");
        }
        assert!(matches!(
            validate_url("not a url", &p),
            Err(UrlError::Malformed(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(validate_url(&long, &p).unwrap_err(), UrlError::TooLong);
        let allowed = AddressPolicy::with_allow_list(vec!["127.0.0.1".parse().unwrap()]);
        assert!(validate_url("http://127.0.0.1:9000/hook", &allowed).is_ok());
    }
}
