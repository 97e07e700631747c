//! The client's address (believing `X-Forwarded-For` only from trusted proxies) and user agent.
//!
//! Behind trusted proxies the forwarded list is walked from the right, the end each proxy
//! appends to: trusted proxies are skipped and the first other entry is the client. An entry
//! may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`) or brackets, as some proxies
//! write them. An entry that does not parse (`unknown`, `_hidden`, junk) was not written by a
//! proxy we trust about addresses, so it is the client's own claim: it is never skipped like a
//! trusted hop, and it is never replaced by the proxy's address, which would put that client
//! in the allowance every client of the proxy shares. Such a client is recorded as
//! [`UNKNOWN_CLIENT`], one bucket for every request whose address cannot be known.

use crate::domain::ClientInfo;
use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The address recorded (and throttled as one) for a client whose address cannot be known.
pub const UNKNOWN_CLIENT: &str = "unknown";

/// Reads who is calling.
pub fn client_info(req: &HttpRequest, trusted: &[IpNet]) -> ClientInfo {
    let ua = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ClientInfo::new(
        client_ip(req, trusted)
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| UNKNOWN_CLIENT.into()),
        ua,
    )
}

/// The peer address, or, when the peer is a trusted proxy, the right-most entry of
/// `X-Forwarded-For` that is not itself a trusted proxy. `None` when that entry does not parse
/// (see the module documentation), or when there is no peer at all.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip().to_canonical())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Every header line in order, then every entry of each: the list as the last proxy sent it.
    let entries: Vec<&[u8]> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect();
    if entries.iter().all(|e| e.trim_ascii().is_empty()) {
        // No list at all: the trusted peer itself is calling (a health check, say).
        return Some(peer);
    }
    let mut nearest = peer;
    for entry in entries.into_iter().rev() {
        match forwarded_address(entry) {
            Some(ip) if is_trusted(&ip) => nearest = ip,
            Some(ip) => return Some(ip),
            None => return None,
        }
    }
    // Every hop was a trusted proxy: the left-most is where the request began.
    Some(nearest)
}

/// One `X-Forwarded-For` entry as an address: `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port`.
pub fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim();
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, xff: &[&str]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:1234").parse().expect("addr"));
        for x in xff {
            r = r.append_header(("x-forwarded-for", *x));
        }
        r.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    fn trusted() -> Vec<IpNet> {
        vec![
            "10.0.0.0/8".parse().expect("net"),
            "fd00::/8".parse().expect("net"),
        ]
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let t = trusted();
        assert_eq!(client_ip(&req("1.2.3.4", &["9.9.9.9"]), &t), ip("1.2.3.4"));
        assert_eq!(
            client_ip(&req("10.0.0.1", &["6.6.6.6, 9.9.9.9, 10.0.0.2"]), &t),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(&req("10.0.0.1", &[]), &t), ip("10.0.0.1"));
        assert_eq!(
            client_ip(&req("10.0.0.1", &["10.0.0.7, 10.0.0.2"]), &t),
            ip("10.0.0.7"),
            "only trusted hops: the left-most began the request"
        );
    }

    #[test]
    fn the_list_is_walked_from_the_right_to_the_first_untrusted_entry() {
        let t = trusted();
        // A junk entry left of the client's real address is never reached.
        assert_eq!(
            client_ip(&req("10.0.0.1", &["unknown, 203.0.113.77"]), &t),
            ip("203.0.113.77")
        );
        assert_eq!(
            client_ip(&req("10.0.0.1", &["unknown", "203.0.113.78"]), &t),
            ip("203.0.113.78"),
            "several header lines make one list"
        );
        assert_eq!(
            client_ip(&req("10.0.0.1", &["203.0.113.9, 10.0.0.3,10.0.0.2"]), &t),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn entries_with_ports_and_brackets_are_addresses() {
        let t = trusted();
        let cases = [
            ("203.0.113.79:4711", "203.0.113.79"),
            ("[2001:db8::7]:4711", "2001:db8::7"),
            ("[2001:db8::8]", "2001:db8::8"),
            (" 2001:db8::9 ", "2001:db8::9"),
            ("::ffff:203.0.113.80", "203.0.113.80"),
        ];
        for (entry, want) in cases {
            assert_eq!(
                client_ip(&req("10.0.0.1", &[entry]), &t),
                ip(want),
                "{entry}"
            );
        }
        assert_eq!(
            client_ip(&req("10.0.0.1", &["203.0.113.81, 10.0.0.2:80"]), &t),
            ip("203.0.113.81"),
            "a trusted hop written with a port is still skipped"
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_is_never_the_proxy_and_never_skipped() {
        let t = trusted();
        for junk in [
            "garbage",
            "unknown",
            "_hidden",
            "203.0.113.7, ",
            "10.0.0.1:99999",
            "[10.0.0.2]",
        ] {
            let got = client_ip(&req("10.0.0.1", &[junk]), &t);
            assert_eq!(got, None, "{junk:?} is the client's own claim");
        }
        assert_eq!(
            client_ip(&req("10.0.0.1", &["203.0.113.7, junk, 10.0.0.2"]), &t),
            None,
            "the walk stops at the junk: nothing left of it can be believed"
        );
        let r = TestRequest::default()
            .peer_addr("10.0.0.1:1234".parse().expect("addr"))
            .insert_header((
                "x-forwarded-for",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff\xfe").expect("bytes"),
            ))
            .to_http_request();
        assert_eq!(client_ip(&r, &t), None, "bytes that are not text");
        assert_eq!(
            client_info(&req("10.0.0.1", &["unknown"]), &t).ip,
            UNKNOWN_CLIENT
        );
    }
}
