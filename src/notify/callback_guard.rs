//! DNS-rebinding guard for callbacks a request named: resolve, refuse private addresses, and
//! connect only to the addresses checked (a reqwest resolver), so a name cannot turn private
//! between intake and delivery. The configured `callback_url` does not go through it.

use crate::domain::callback_target::refused_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::time::Duration;

/// A name that does not resolve within this is refused, so a slow resolver cannot hold intake.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves `host` and returns its addresses only if none is loopback, private,
/// link-local or unspecified. The error is the sentence for the agent or the log.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let looked = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("{host} did not resolve within {RESOLVE_TIMEOUT:?}"))?
        .map_err(|e| format!("{host} does not resolve ({e})"))?;
    let addrs: Vec<SocketAddr> = looked.collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| refused_ip(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, a loopback, private, link-local or unspecified address",
            bad.ip()
        ));
    }
    Ok(addrs)
}

/// The resolver of the client that delivers request-supplied callbacks.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for callbacks. Redirects are never followed (a 3xx is a failed
/// attempt): a redirect would repeat the signed POST to a host nobody checked.
/// `public_only` adds the resolver above.
pub fn client(public_only: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    let builder = if public_only {
        builder.dns_resolver(PublicOnly)
    } else {
        builder
    };
    builder.build()
}

/// The IP-literal half of the guard (a resolver never sees literals): `Some(reason)` when a
/// request-supplied URL names a refused address outright.
pub fn refused_literal(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    refused_ip(ip).then(|| format!("callback address {ip} is private; not sent"))
}
