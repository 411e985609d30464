//! Go's `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy) for kubeadm's `HTTPProxy`
//! and `HTTPProxyCIDR` checks: which proxy, if any, a request to a URL would use.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxy environment (`HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy`,
/// `NO_PROXY`/`no_proxy`; upper case wins, as in Go).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `HTTP_PROXY`.
    pub http_proxy: String,
    /// `HTTPS_PROXY`.
    pub https_proxy: String,
    /// `NO_PROXY`.
    pub no_proxy: String,
}

impl ProxyEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (Go's `getEnvAny`: the first non-empty of the upper- and
    /// lower-case names).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let any = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()))
                .unwrap_or_default()
        };
        ProxyEnv {
            http_proxy: any(["HTTP_PROXY", "http_proxy"]),
            https_proxy: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
        }
    }

    /// The proxy URL used for `scheme://host:port` (`host` without brackets), or `None` for a
    /// direct connection.
    pub fn proxy_for(&self, scheme: &str, host: &str, port: u16) -> Option<String> {
        let proxy = match scheme {
            "https" => &self.https_proxy,
            _ => &self.http_proxy,
        };
        if proxy.is_empty() || !self.use_proxy(host, port) {
            return None;
        }
        Some(normalize_proxy_url(proxy))
    }

    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host.trim().to_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|i| i.is_loopback()) {
            return false;
        }
        let port = port.to_string();
        for entry in self.no_proxy.split(',') {
            let entry = entry.trim().to_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return false;
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                if ip.is_some_and(|i| net.contains(&i)) {
                    return false;
                }
                continue;
            }
            let (phost, pport) = split_entry(&entry);
            if let Ok(pip) = phost.parse::<IpAddr>() {
                if ip == Some(pip) && (pport.is_empty() || pport == port) {
                    return false;
                }
                continue;
            }
            if phost.is_empty() {
                continue;
            }
            // Domain: "*.foo" → ".foo"; "foo" matches foo and its subdomains, ".foo" only
            // subdomains.
            let phost = phost.strip_prefix('*').unwrap_or(phost);
            let (suffix, match_host) = if phost.starts_with('.') {
                (phost.to_string(), false)
            } else {
                (format!(".{phost}"), true)
            };
            if (host.ends_with(&suffix) || (match_host && host == suffix[1..]))
                && (pport.is_empty() || pport == port)
            {
                return false;
            }
        }
        true
    }
}

/// `host:port` entries of NO_PROXY (`[v6]:port` too); a bare entry has no port.
fn split_entry(entry: &str) -> (&str, &str) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').unwrap_or(""));
        }
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => (h, p),
        _ => (entry, ""),
    }
}

/// Go's `parseProxy`: a proxy without a known scheme is taken as `http://<proxy>`.
fn normalize_proxy_url(proxy: &str) -> String {
    match proxy.split_once("://") {
        Some((s, _)) if ["http", "https", "socks5", "socks5h"].contains(&s) => proxy.to_string(),
        _ => format!("http://{proxy}"),
    }
}

/// kubeadm's `HTTPProxyCheck` URL for a host: `https://host`, or `https://[v6]:1234`.
pub fn check_url(host: &str) -> (String, u16) {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        (format!("https://[{host}]:1234"), 1234)
    } else {
        (format!("https://{host}"), 443)
    }
}

/// kubeadm's `HTTPProxyCIDRCheck`: the proxy a request to the first address of `cidr` would
/// use (`https://<ip>/`, IPv6 `https://[<ip>]:1234/`), or `None`. Errors name the CIDR.
pub fn cidr_proxy(env: &ProxyEnv, cidr: &str) -> Result<Option<String>, String> {
    let net: IpNet = cidr
        .trim()
        .parse()
        .map_err(|e| format!("error parsing CIDR {cidr:?}: {e}"))?;
    let first = match net.network() {
        IpAddr::V4(a) => u32::from(a)
            .checked_add(1)
            .map(|n| IpAddr::V4(n.into()))
            .filter(|ip| net.contains(ip)),
        IpAddr::V6(a) => u128::from(a)
            .checked_add(1)
            .map(|n| IpAddr::V6(n.into()))
            .filter(|ip| net.contains(ip)),
    }
    .ok_or_else(|| format!("unable to get first IP address from the given CIDR ({net})"))?;
    let port = if first.is_ipv6() { 1234 } else { 443 };
    Ok(env.proxy_for("https", &first.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(https: &str, no: &str) -> ProxyEnv {
        ProxyEnv {
            http_proxy: String::new(),
            https_proxy: https.into(),
            no_proxy: no.into(),
        }
    }

    #[test]
    fn go_no_proxy_rules() {
        let e = env(
            "proxy.corp:3128",
            "10.0.0.0/8,.svc,example.com,192.0.2.9,[2001:db8::1]:1234",
        );
        assert_eq!(
            e.proxy_for("https", "192.0.2.2", 443).as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(e.proxy_for("https", "10.96.0.1", 443), None);
        assert_eq!(e.proxy_for("https", "192.0.2.9", 443), None);
        assert_eq!(e.proxy_for("https", "a.svc", 443), None);
        assert!(
            e.proxy_for("https", "svc", 443).is_some(),
            ".svc is only subdomains"
        );
        assert_eq!(e.proxy_for("https", "example.com", 443), None);
        assert_eq!(e.proxy_for("https", "api.example.com", 443), None);
        assert_eq!(e.proxy_for("https", "2001:db8::1", 1234), None);
        assert!(e.proxy_for("https", "2001:db8::1", 443).is_some());
        assert_eq!(e.proxy_for("https", "127.0.0.1", 443), None, "loopback");
        assert_eq!(e.proxy_for("https", "localhost", 443), None);
        assert_eq!(env("", "").proxy_for("https", "192.0.2.2", 443), None);
        assert_eq!(env("https://p:1", "*").proxy_for("https", "x", 443), None);
    }

    #[test]
    fn upper_case_wins_and_https_does_not_fall_back_to_http_proxy() {
        let e = ProxyEnv::from_lookup(|k| match k {
            "HTTPS_PROXY" => Some("http://UP:1".into()),
            "https_proxy" => Some("http://low:1".into()),
            "http_proxy" => Some("http://plain:1".into()),
            _ => None,
        });
        assert_eq!(e.https_proxy, "http://UP:1");
        let e = ProxyEnv::from_lookup(|k| (k == "http_proxy").then(|| "http://plain:1".into()));
        assert_eq!(e.proxy_for("https", "192.0.2.2", 443), None);
    }

    #[test]
    fn cidr_first_address() {
        let e = env("http://p:3128", "10.96.0.0/12");
        assert_eq!(cidr_proxy(&e, "10.96.0.0/12").unwrap(), None);
        assert_eq!(
            cidr_proxy(&e, "10.244.0.0/16").unwrap().as_deref(),
            Some("http://p:3128")
        );
        let e = env("http://p:3128", "fd00::1");
        assert_eq!(cidr_proxy(&e, "fd00::/108").unwrap(), None);
        assert!(cidr_proxy(&e, "nonsense").unwrap_err().contains("nonsense"));
    }
}
