//! Where a callback URL given in a request may point (README.md "Security"): pure rules on
//! the parsed URL and on addresses. Resolving names is the caller's (intake, delivery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// What is left to check once the URL itself passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: an address literal that passed, or private addresses are allowed.
    Settled,
    /// A name: its addresses must be resolved and each passed through [`refused_ip`].
    Resolve { host: String, port: u16 },
}

/// The `host:port` a URL names, normalised (lower-case name, canonical IP, default port filled in),
/// so `http://2130706433:9000` and `http://127.0.0.1:9000` compare equal.
pub fn host_port(url: &Url) -> Option<String> {
    let port = url.port_or_known_default()?;
    Some(match url.host()? {
        Host::Domain(d) => format!("{}:{port}", d.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv4(ip) => format!("{ip}:{port}"),
        Host::Ipv6(ip) => format!("[{ip}]:{port}"),
    })
}

/// A `callback_hosts` entry (`host:port`, port required), normalised like [`host_port`].
pub fn parse_host_port(entry: &str) -> Option<String> {
    let entry = entry.trim();
    let (_, port) = entry.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let url = Url::parse(&format!("http://{entry}/")).ok()?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| host_port(&url)).flatten()
}

/// Checks a request's `callback_url` against the agent's allowed hosts and, unless
/// `allow_private`, against the address rules. The error is the sentence for the agent.
pub fn check(url: &str, allowed: &[String], allow_private: bool) -> Result<Verdict, String> {
    let parsed = Url::parse(url).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let target = host_port(&parsed).ok_or("must name a host")?;
    if !allow_private {
        match parsed.host() {
            Some(Host::Ipv4(ip)) if refused_ip(IpAddr::V4(ip)) => return Err(private(&target)),
            Some(Host::Ipv6(ip)) if refused_ip(IpAddr::V6(ip)) => return Err(private(&target)),
            Some(Host::Domain(d)) if is_local_name(d) => return Err(private(&target)),
            _ => {}
        }
    }
    if !allowed.contains(&target) {
        return Err(format!(
            "names {target}, which is not one of this agent's callback_hosts"
        ));
    }
    match parsed.host() {
        Some(Host::Domain(d)) if !allow_private => Ok(Verdict::Resolve {
            host: d.trim_end_matches('.').to_owned(),
            port: parsed.port_or_known_default().unwrap_or(80),
        }),
        _ => Ok(Verdict::Settled),
    }
}

fn private(target: &str) -> String {
    format!("names {target}, a loopback, private, link-local or unspecified address")
}

/// Names that mean this machine whatever a resolver says (RFC 6761).
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Addresses a request-supplied callback must never reach: loopback, private, link-local,
/// unspecified, and their neighbours (CGNAT, broadcast, multicast, reserved), including
/// IPv4 addresses wrapped in IPv6 (mapped, compatible, NAT64).
pub fn refused_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a >= 240 // reserved
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    // NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form (::a.b.c.d) carry an IPv4.
    let seg = ip.segments();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (seg[..6] == [0; 6] && !ip.is_loopback()) {
        let [.., c, d] = seg;
        let v4 = Ipv4Addr::from(((c as u32) << 16) | d as u32);
        return ip.is_unspecified() || refused_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(h: &[&str]) -> Vec<String> {
        h.iter().map(|h| parse_host_port(h).unwrap()).collect()
    }

    #[test]
    fn every_loopback_form_is_refused() {
        for url in [
            "http://127.0.0.1:9000/h",
            "http://[::1]:9000/h",
            "http://localhost:9000/h",
            "http://LOCALHOST.:9000/h",
            "http://api.localhost:9000/h",
            "http://2130706433:9000/h",
            "http://0x7f.0.0.1:9000/h",
            "http://0177.0.0.1:9000/h",
            "http://127.1:9000/h",
            "http://0.0.0.0:9000/h",
            "http://0:9000/h",
            "http://[::]:9000/h",
            "http://[::ffff:127.0.0.1]:9000/h",
            "http://[::ffff:7f00:1]:9000/h",
            "http://[64:ff9b::127.0.0.1]:9000/h",
            "http://169.254.169.254:9000/h",
            "http://10.1.2.3:9000/h",
            "http://172.16.0.1:9000/h",
            "http://172.31.255.255:9000/h",
            "http://192.168.1.1:9000/h",
            "http://100.64.0.1:9000/h",
            "http://[fc00::1]:9000/h",
            "http://[fd12:3456::1]:9000/h",
            "http://[fe80::1]:9000/h",
        ] {
            let allowed = vec![Url::parse(url).ok().and_then(|u| host_port(&u)).unwrap()];
            let got = check(url, &allowed, false);
            assert!(got.is_err(), "{url} was accepted: {got:?}");
        }
    }

    #[test]
    fn whatwg_parsing_normalises_numeric_hosts() {
        let allowed = hosts(&["127.0.0.1:9000"]);
        for url in [
            "http://2130706433:9000/",
            "http://0x7f.0.0.1:9000/",
            "http://127.1:9000/",
        ] {
            assert_eq!(check(url, &allowed, true), Ok(Verdict::Settled), "{url}");
        }
    }

    #[test]
    fn public_addresses_in_the_list_pass_and_names_need_resolving() {
        let allowed = hosts(&[
            "93.184.215.14:443",
            "Hooks.Example.com:443",
            "172.32.0.1:80",
        ]);
        assert_eq!(
            check("https://93.184.215.14/x", &allowed, false),
            Ok(Verdict::Settled)
        );
        assert_eq!(
            check("http://172.32.0.1/x", &allowed, false),
            Ok(Verdict::Settled)
        );
        assert_eq!(
            check("https://hooks.example.com/x", &allowed, false),
            Ok(Verdict::Resolve {
                host: "hooks.example.com".into(),
                port: 443
            })
        );
    }

    #[test]
    fn userinfo_and_unlisted_hosts_are_refused_even_when_private_is_allowed() {
        let allowed = hosts(&["127.0.0.1:9000"]);
        assert!(check("http://u:p@127.0.0.1:9000/", &allowed, true).is_err());
        assert!(check("http://u@127.0.0.1:9000/", &allowed, true).is_err());
        assert!(check("http://127.0.0.1:9001/", &allowed, true).is_err());
        assert!(check("https://127.0.0.1/", &allowed, true).is_err());
    }

    #[test]
    fn host_port_entries() {
        assert_eq!(
            parse_host_port("Example.COM:443").as_deref(),
            Some("example.com:443")
        );
        assert_eq!(parse_host_port("[::1]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(
            parse_host_port("127.0.0.1:80").as_deref(),
            Some("127.0.0.1:80")
        );
        for bad in [
            "example.com",
            "example.com:",
            "u@h:1",
            "h:1/p",
            "h:x",
            ":80",
        ] {
            assert_eq!(parse_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn public_addresses_are_not_refused() {
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
