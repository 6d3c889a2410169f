//! The client's address behind trusted proxies (the dashboard's server, an ingress). Login rate
//! limiting and the audit trail key on it; without this every browser behind the dashboard
//! would share the dashboard's address — and one user's wrong passwords would lock out all.
//!
//! `X-Forwarded-For` is read only when the connection comes from a trusted proxy
//! (`MES_TRUSTED_PROXIES`), right to left, skipping trusted hops: the first untrusted address is
//! the client. Anything a client writes into the header itself stays to the left of what the
//! trusted proxies appended, so it is never taken.

use std::net::IpAddr;

use ipnet::IpNet;

/// The address a request is attributed to, as an extension of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Networks whose connections may name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated addresses and CIDR networks, e.g. `10.0.0.0/8, 127.0.0.1`.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is neither an IP address nor a CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Who sent the request that `peer` connected with and `forwarded_for` describes.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.unwrap_or("").rsplit(',').map(str::trim) {
            // A hop we cannot read ends the walk: the last address a trusted hop vouched for.
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap_or_default()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let t = trusted();
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("127.0.0.1"), Some("1.2.3.4")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let t = trusted();
        // The client forged "6.6.6.6"; the ingress (10.1.1.1) and the dashboard appended theirs.
        let header = "6.6.6.6, 198.51.100.7, 10.1.1.1";
        assert_eq!(
            t.client_ip(ip("10.2.2.2"), Some(header)),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), Some("192.0.2.1")),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn no_header_or_an_unreadable_hop_keeps_the_last_trusted_address() {
        let t = trusted();
        assert_eq!(t.client_ip(ip("10.2.2.2"), None), ip("10.2.2.2"));
        assert_eq!(
            t.client_ip(ip("10.2.2.2"), Some("unknown, 10.1.1.1")),
            ip("10.1.1.1")
        );
        assert_eq!(
            t.client_ip(ip("10.2.2.2"), Some("10.3.3.3, 10.1.1.1")),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let t = trusted();
        assert_eq!(
            t.client_ip(ip("::ffff:10.0.0.5"), Some("192.0.2.1")),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn parse_names_the_bad_entry() {
        assert_eq!(TrustedProxies::parse("").map(|t| t.0.len()), Ok(0));
        assert_eq!(
            TrustedProxies::parse("fd00::/8,::1").map(|t| t.0.len()),
            Ok(2)
        );
        let err = TrustedProxies::parse("10.0.0.0/8, dashboard").expect_err("a name is refused");
        assert!(err.contains("`dashboard`"), "{err}");
    }
}
