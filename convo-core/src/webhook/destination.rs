//! The destination rules checked on the URL, before anything is sent.
//!
//! A host name is judged later, on the addresses it resolves to at connect
//! time (`resolver`), so DNS cannot answer differently between a check and
//! the connection. An address written in the URL never reaches a resolver
//! (the connector uses it as it is), so it is judged here.

use reqwest::Url;
use url::Host;

use super::address::non_global;
use super::{Refusal, WebhookError};

/// Parses `url` and applies the scheme and address rules.
pub(crate) fn checked_url(url: &str, allow_private_networks: bool) -> Result<Url, WebhookError> {
    let url = Url::parse(url).map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;
    let scheme_allowed = match url.scheme() {
        "https" => true,
        // Plain HTTP only where private networks are allowed: tests and
        // tools on the same trusted network.
        "http" => allow_private_networks,
        _ => false,
    };
    if !scheme_allowed {
        return Err(WebhookError::Refused(Refusal::Scheme {
            scheme: url.scheme().to_owned(),
        }));
    }
    let ip = match url.host() {
        None => return Err(WebhookError::InvalidUrl("it has no host".into())),
        Some(Host::Domain(_)) => return Ok(url),
        Some(Host::Ipv4(ip)) => ip.into(),
        Some(Host::Ipv6(ip)) => ip.into(),
    };
    if !allow_private_networks {
        if let Some(class) = non_global(ip) {
            return Err(WebhookError::Refused(Refusal::Address { ip, class }));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::AddressClass;

    fn refusal(url: &str) -> Refusal {
        match checked_url(url, false) {
            Err(WebhookError::Refused(refusal)) => refusal,
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_https_is_allowed_unless_private_networks_are() {
        for url in [
            "http://example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
        ] {
            assert!(matches!(refusal(url), Refusal::Scheme { .. }), "{url}");
        }
        assert!(checked_url("https://example.com/hook", false).is_ok());
        assert!(checked_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(matches!(
            checked_url("ftp://127.0.0.1/", true),
            Err(WebhookError::Refused(Refusal::Scheme { .. }))
        ));
    }

    #[test]
    fn address_hosts_are_judged_before_sending_in_every_spelling() {
        let cases = [
            ("https://127.0.0.1:8443/", AddressClass::Loopback),
            ("https://[::1]/", AddressClass::Loopback),
            ("https://[::ffff:127.0.0.1]/", AddressClass::Loopback),
            ("https://[::ffff:7f00:1]/", AddressClass::Loopback),
            ("https://10.0.0.1/", AddressClass::Private),
            (
                "https://169.254.169.254/latest/meta-data/",
                AddressClass::LinkLocal,
            ),
            ("https://0.0.0.0/", AddressClass::Unspecified),
            // The URL standard reads these as IPv4 addresses.
            ("https://2130706433/", AddressClass::Loopback),
            ("https://0x7f.1/", AddressClass::Loopback),
            ("https://127.1/", AddressClass::Loopback),
        ];
        for (url, class) in cases {
            match refusal(url) {
                Refusal::Address { class: got, .. } => assert_eq!(got, class, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn private_addresses_pass_when_allowed_and_names_are_left_to_the_resolver() {
        assert!(checked_url("https://10.0.0.1/", true).is_ok());
        assert!(checked_url("https://localhost/", false).is_ok());
        assert!(checked_url("https://[2606:4700:4700::1111]/", false).is_ok());
    }

    #[test]
    fn urls_that_do_not_parse_are_invalid() {
        for url in ["not a url", "https://", "https://exa mple.com/"] {
            assert!(
                matches!(checked_url(url, false), Err(WebhookError::InvalidUrl(_))),
                "{url}"
            );
        }
    }
}
