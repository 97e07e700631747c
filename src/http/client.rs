//! The client's address (believing `X-Forwarded-For` only from trusted proxies) and user agent.

use crate::domain::ClientInfo;
use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

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
            .unwrap_or_else(|| "unknown".into()),
        ua,
    )
}

/// The peer address, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for h in req.headers().get_all("x-forwarded-for") {
        let Ok(s) = h.to_str() else { return Some(peer) };
        for part in s.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(ip),
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        chain
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, xff: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:1234").parse().expect("addr"));
        if let Some(x) = xff {
            r = r.insert_header(("x-forwarded-for", x));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        assert_eq!(
            client_ip(&req("1.2.3.4", Some("9.9.9.9")), &trusted),
            Some("1.2.3.4".parse().expect("ip"))
        );
        assert_eq!(
            client_ip(
                &req("10.0.0.1", Some("6.6.6.6, 9.9.9.9, 10.0.0.2")),
                &trusted
            ),
            Some("9.9.9.9".parse().expect("ip"))
        );
        assert_eq!(
            client_ip(&req("10.0.0.1", Some("garbage")), &trusted),
            Some("10.0.0.1".parse().expect("ip"))
        );
        assert_eq!(
            client_ip(&req("10.0.0.1", None), &trusted),
            Some("10.0.0.1".parse().expect("ip"))
        );
    }
}
