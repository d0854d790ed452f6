//! The client address behind trusted proxies: the right-most untrusted hop of
//! `X-Forwarded-For` or `Forwarded`, read only when the peer itself is a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::FORWARDED;
use ipnet::IpNet;

/// How many hops of a forwarding header are looked at, from the right. A chain of trusted
/// proxies longer than this ends at the last one reached.
pub const MAX_HOPS: usize = 32;

/// Which header the trusted proxies append the client address to.
///
/// Only the header your proxies actually write may be read: a header they pass through
/// untouched is entirely the client's to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ProxyHeader {
    fn name(self) -> &'static str {
        match self {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => FORWARDED.as_str(),
        }
    }
}

/// The trusted proxies and the header they write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    pub(crate) trusted: Vec<IpNet>,
    pub(crate) header: ProxyHeader,
}

impl Proxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The address of the client a request comes from, given the TCP peer.
    ///
    /// - The peer is not a trusted proxy (or no proxy is trusted): the peer.
    /// - Otherwise the header's hops are read from the right: trusted hops are skipped, and
    ///   the first hop that is not trusted is the client. A hop that is not an IP address
    ///   (`unknown`, an obfuscated name, garbage, non-UTF-8 bytes) ends the walk: the address
    ///   recorded is then the trusted proxy that reported it (the last address the chain of
    ///   trusted proxies vouches for). So is the last one reached after [`MAX_HOPS`] hops,
    ///   or the left-most when every hop is trusted. No header: the peer.
    pub(crate) fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut vouched = peer;
        let mut seen = 0;
        for value in headers.get_all(self.header.name()).iter().rev() {
            // a value that is not visible ASCII is one unreadable hop
            let Ok(text) = value.to_str() else {
                return vouched;
            };
            for hop in text.rsplit(',') {
                if seen == MAX_HOPS {
                    return vouched;
                }
                seen += 1;
                let ip = match self.header {
                    ProxyHeader::XForwardedFor => parse_node(hop.trim()),
                    ProxyHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
                };
                match ip {
                    Some(ip) if self.trusts(ip) => vouched = ip,
                    Some(ip) => return ip,
                    None => return vouched,
                }
            }
        }
        vouched
    }
}

/// The `for=` parameter of one `Forwarded` element (`for=192.0.2.60;proto=http`), unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| {
            let value = value.trim();
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value)
        })
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`. IPv4-mapped IPv6 addresses become IPv4.
fn parse_node(node: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else if let Ok(sock) = node.parse::<SocketAddr>() {
        sock.ip()
    } else {
        node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn proxies(header: ProxyHeader) -> Proxies {
        Proxies {
            trusted: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            header,
        }
    }

    fn headers(name: &str, values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &[b"192.0.2.9"]);
        assert_eq!(p.client_addr(ip("198.51.100.7"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn right_most_untrusted_hop_wins_over_a_spoofed_left_most() {
        let p = proxies(ProxyHeader::XForwardedFor);
        // the client claimed 1.1.1.1; the proxies appended the real client and each other
        let h = headers(
            "x-forwarded-for",
            &[b"1.1.1.1, 203.0.113.5", b"10.0.0.2 , 10.0.0.3"],
        );
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("203.0.113.5"));
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        let p = proxies(ProxyHeader::XForwardedFor);
        assert_eq!(
            p.client_addr(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn unreadable_hop_stops_at_the_proxy_that_reported_it() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &[b"203.0.113.5, garbage, 10.0.0.2"]);
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.0.2"));
        let h = headers("x-forwarded-for", &[b"\xff\xfe"]);
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.0.4"));
        let h = headers("x-forwarded-for", &[b""]);
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.0.4"));
    }

    #[test]
    fn many_trusted_hops_end_after_the_bound() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let mut long = String::from("203.0.113.5");
        for i in 0..1000 {
            long.push_str(&format!(", 10.0.{}.{}", i / 250, i % 250));
        }
        let h = headers("x-forwarded-for", &[long.as_bytes()]);
        // the 32nd hop from the right: i = 968
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.3.218"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let p = proxies(ProxyHeader::XForwardedFor);
        for (value, want) in [
            ("203.0.113.5:4711", "203.0.113.5"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
        ] {
            let h = headers("x-forwarded-for", &[value.as_bytes()]);
            assert_eq!(p.client_addr(ip("::1"), &h), ip(want), "{value}");
        }
        // a mapped peer address is the IPv4 proxy
        let h = headers("x-forwarded-for", &[b"203.0.113.5"]);
        assert_eq!(p.client_addr(ip("::ffff:10.0.0.1"), &h), ip("203.0.113.5"));
    }

    #[test]
    fn forwarded_header() {
        let p = proxies(ProxyHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[b"for=1.1.1.1, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.9;by=10.0.0.1"],
        );
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &[b"for=unknown, for=10.0.0.9"]);
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.0.9"));
        // X-Forwarded-For is not read when the proxies write Forwarded
        let h = headers("x-forwarded-for", &[b"203.0.113.5"]);
        assert_eq!(p.client_addr(ip("10.0.0.4"), &h), ip("10.0.0.4"));
    }
}
