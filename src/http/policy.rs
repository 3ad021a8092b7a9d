//! The host policy (LANGUAGE.md §8.3): the operator, not the scenario, decides which hosts a
//! bot may call. With `--allow-host` only the listed hosts (and ports) may be called; without
//! it any public host may, and addresses that are private, loopback, link-local, metadata or
//! otherwise not globally routable are refused — checked on the **resolved** addresses, so a
//! public name that resolves to `10.0.0.5` is refused too. The client applies the policy to
//! every redirect hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How every refusal's message begins.
pub(crate) const REFUSED: &str = "refused by the host policy";

/// One `--allow-host HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    /// Lowercased; for `*.example.com`, the suffix `.example.com`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

/// Which hosts the bot may call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Empty: any public address.
    allowed: Vec<Allowed>,
}

impl Policy {
    /// Public addresses only (no `--allow-host`).
    pub fn public() -> Policy {
        Policy::default()
    }

    /// Only the given `HOST[:PORT]` patterns: `api.example.com`, `*.example.com`,
    /// `127.0.0.1:8080`, `[::1]:8080`. An empty list means [`Policy::public`].
    pub fn allow(patterns: &[String]) -> Result<Policy, String> {
        let mut allowed = Vec::new();
        for raw in patterns {
            allowed.push(parse_pattern(raw)?);
        }
        Ok(Policy { allowed })
    }

    /// Whether the operator listed hosts (then addresses are not checked: an allowed host may
    /// well be on a private network).
    pub fn is_allow_list(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Checks a URL's host and port before anything is sent. For a name under the public
    /// policy only the resolved addresses can tell; see [`Policy::check_resolved`].
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        let Some(host) = url.host() else {
            return Err(format!("`{url}` has no host"));
        };
        let port = url.port_or_known_default().unwrap_or(0);
        if self.is_allow_list() {
            let name = match host {
                url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
                url::Host::Ipv4(ip) => ip.to_string(),
                url::Host::Ipv6(ip) => ip.to_string(),
            };
            if self.allowed.iter().any(|a| a.matches(&name, port)) {
                return Ok(());
            }
            return Err(format!(
                "refused by the host policy: {} is not an allowed host (--allow-host)",
                display_host(&name, port)
            ));
        }
        let ip = match host {
            url::Host::Domain(_) => return Ok(()),
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
        };
        match refused_kind(ip) {
            Some(kind) => Err(format!(
                "refused by the host policy: {ip} is {} {kind} address",
                article(kind)
            )),
            None => Ok(()),
        }
    }

    /// The addresses a name resolved to that may be connected to; an error when none may.
    pub fn check_resolved(
        &self,
        name: &str,
        addrs: Vec<std::net::SocketAddr>,
    ) -> Result<Vec<std::net::SocketAddr>, String> {
        if self.is_allow_list() {
            return Ok(addrs);
        }
        let mut refused = None;
        let kept: Vec<_> = addrs
            .into_iter()
            .filter(|a| match refused_kind(a.ip()) {
                Some(kind) => {
                    refused.get_or_insert((a.ip(), kind));
                    false
                }
                None => true,
            })
            .collect();
        match (kept.is_empty(), refused) {
            (true, Some((ip, kind))) => Err(format!(
                "refused by the host policy: {name} resolves to {ip}, {} {kind} address",
                article(kind)
            )),
            (true, None) => Err(format!("cannot resolve {name}: no addresses")),
            (false, _) => Ok(kept),
        }
    }
}

fn display_host(name: &str, port: u16) -> String {
    if name.contains(':') {
        format!("[{name}]:{port}")
    } else {
        format!("{name}:{port}")
    }
}

impl Allowed {
    fn matches(&self, host: &str, port: u16) -> bool {
        let host_ok = if self.wildcard {
            host.len() > self.host.len() && host.ends_with(&self.host)
        } else {
            host == self.host
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }
}

fn parse_pattern(raw: &str) -> Result<Allowed, String> {
    let bad = |why: &str| {
        format!("`--allow-host {raw}`: {why} (expected HOST[:PORT], e.g. api.example.com, *.example.com, 127.0.0.1:8080)")
    };
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad("empty host"));
    }
    if text.contains("://") || text.contains('/') {
        return Err(bad("give a host, not a URL"));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after `]`"))?),
        };
        let ip: Ipv6Addr = ip.parse().map_err(|_| bad("not an IPv6 address"))?;
        (ip.to_string(), port)
    } else if text.matches(':').count() > 1 {
        let ip: Ipv6Addr = text
            .parse()
            .map_err(|_| bad("write an IPv6 address in brackets"))?;
        (ip.to_string(), None)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (text.to_ascii_lowercase(), None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => None,
    };
    let host = host.trim_end_matches('.').to_string();
    let (host, wildcard) = match host.strip_prefix("*.") {
        Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => (format!(".{suffix}"), true),
        _ if host.contains('*') => return Err(bad("`*` is only allowed as `*.domain`")),
        _ => (host, false),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
        return Err(bad("bad host"));
    }
    Ok(Allowed {
        host,
        wildcard,
        port,
    })
}

/// Why an address is refused under the public policy, or `None` for a public address.
pub fn refused_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (169, 254, _) => "link-local (cloud metadata)",
        // Carrier-grade NAT, and Alibaba Cloud's metadata at 100.100.100.200.
        (100, b, _) if (64..128).contains(&b) => "shared (carrier-grade NAT, metadata)",
        (0, _, _) => "unspecified (\"this network\")",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let inside = |hi: u16, lo: u16| {
        refused_v4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        ))
    };
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // Every form that embeds an IPv4 address is judged by the address inside: mapped
    // (::ffff:0:0/96), translated (::ffff:0:0:0/96), compatible (::/96), NAT64 (64:ff9b::/96)
    // and 6to4 (2002::/16).
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo]
        | [0x2002, hi, lo, ..] => return inside(hi, lo),
        _ => {}
    }
    Some(match s {
        [0xfc00..=0xfdff, ..] => "private (unique local)",
        [0xfe80..=0xfebf, ..] => "link-local",
        [0xfec0..=0xfeff, ..] => "site-local",
        [0xff00..=0xffff, ..] => "multicast",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x2001, 0, ..] => "Teredo",
        [0x0100, 0, 0, 0, ..] => "discard-only",
        [0x0064, 0xff9b, 0x0001, ..] => "NAT64 (local use)",
        _ => return None,
    })
}

/// `a` or `an` before a kind of address.
pub(crate) fn article(kind: &str) -> &'static str {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'I') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).expect("test URL")
    }

    #[test]
    fn public_policy_refuses_special_addresses() {
        let p = Policy::public();
        for u in [
            "http://127.0.0.1/",
            "http://127.8.9.1:8080/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.100.100.200/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://224.0.0.1/",
            // Spellings of 127.0.0.1 that URL parsers normalise (SSRF filter bypasses).
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            // Every IPv6 form that embeds an IPv4 address, and the ranges refused outright.
            "http://[::ffff:0:127.0.0.1]/",
            "http://[::ffff:0:a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://[::10.0.0.1]/",
            "http://[2001::1]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "http://[100::1]/",
            "http://[64:ff9b:1::a]/",
        ] {
            let err = p.check_url(&url(u)).expect_err(u);
            assert!(err.starts_with("refused by the host policy"), "{err}");
        }
        for u in [
            "http://8.8.8.8/",
            "https://93.184.216.34/x",
            "http://172.32.0.1/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[2002:808:808::1]/",
            "http://[64:ff9b::808:808]/",
            "http://[2001:4860::8888]/",
            "https://api.example.com/",
        ] {
            assert_eq!(p.check_url(&url(u)), Ok(()), "{u}");
        }
    }

    #[test]
    fn refusals_read_as_english() {
        let p = Policy::public();
        let err = |u: &str| p.check_url(&url(u)).expect_err(u);
        assert_eq!(
            err("http://0.0.0.0/"),
            "refused by the host policy: 0.0.0.0 is an unspecified (\"this network\") address"
        );
        assert_eq!(
            err("http://[::]/"),
            "refused by the host policy: :: is an unspecified address"
        );
        assert_eq!(
            err("http://[::10.1.2.3]/"),
            "refused by the host policy: ::a01:203 is a private address"
        );
        assert_eq!(
            err("http://[fc00::1]/"),
            "refused by the host policy: fc00::1 is a private (unique local) address"
        );
        assert_eq!(
            err("http://[2001::5]/"),
            "refused by the host policy: 2001::5 is a Teredo address"
        );
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let p = Policy::public();
        let a = |s: &str| s.parse::<std::net::SocketAddr>().expect("addr");
        let err = p
            .check_resolved("evil.example", vec![a("10.0.0.5:80")])
            .expect_err("private");
        assert_eq!(
            err,
            "refused by the host policy: evil.example resolves to 10.0.0.5, a private address"
        );
        let kept = p
            .check_resolved("mixed.example", vec![a("127.0.0.1:80"), a("8.8.8.8:80")])
            .expect("one public");
        assert_eq!(kept, vec![a("8.8.8.8:80")]);
        let allow = Policy::allow(&["mixed.example".into()]).expect("pattern");
        assert_eq!(
            allow
                .check_resolved("mixed.example", vec![a("127.0.0.1:80")])
                .expect("allowed"),
            vec![a("127.0.0.1:80")]
        );
    }

    #[test]
    fn allow_list_matches_host_wildcard_and_port() {
        let p = Policy::allow(&[
            "api.example.com".into(),
            "*.shop.example".into(),
            "127.0.0.1:8080".into(),
            "[::1]:9000".into(),
        ])
        .expect("patterns");
        for u in [
            "https://api.example.com/x",
            "https://API.Example.com:444/x",
            "https://a.shop.example/",
            "https://a.b.shop.example/",
            "http://127.0.0.1:8080/",
            "http://[::1]:9000/",
        ] {
            assert_eq!(p.check_url(&url(u)), Ok(()), "{u}");
        }
        for u in [
            "https://example.com/",
            "https://shop.example/",
            "https://evilshop.example/",
            "http://127.0.0.1:8081/",
            "http://127.0.0.1/",
            "http://[::1]:9001/",
            "https://api.example.com.evil.net/",
        ] {
            let err = p.check_url(&url(u)).expect_err(u);
            assert!(err.contains("is not an allowed host"), "{err}");
        }
    }

    #[test]
    fn bad_patterns_are_usage_errors() {
        for bad in [
            "",
            "http://x.com",
            "x.com/path",
            "a*.com",
            "x.com:99999",
            "[::1",
        ] {
            assert!(Policy::allow(&[bad.into()]).is_err(), "{bad:?}");
        }
        assert!(Policy::allow(&["[::1]".into()]).is_ok());
    }
}
