//! The single sign-on settings (`CONVO_OIDC_*`): checked at startup, and
//! turned into what [`crate::credentials::oidc`] needs.

use super::validate::Checks;
use super::Config;
use crate::credentials::oidc::OidcSettings;

impl Config {
    /// The OpenID Connect settings, when `CONVO_OIDC_ISSUER` is set (and
    /// [`Config::validate`] accepted them).
    pub fn oidc(&self) -> Option<OidcSettings> {
        let issuer = set(&self.oidc_issuer)?;
        Some(OidcSettings {
            issuer: issuer.to_owned(),
            audience: set(&self.oidc_audience).unwrap_or_default().to_owned(),
            jwks_url: set(&self.oidc_jwks_url).map(str::to_owned),
        })
    }

    /// An issuer is an `https` URL (OpenID Connect Discovery 1.0 §2 and
    /// §4.3), or plain `http` on a loopback address for local issuers and
    /// tests; the audience comes with it; the JWKS URL follows the
    /// issuer's rule, and neither means anything without an issuer.
    pub(super) fn check_oidc(&self, c: &mut Checks) {
        let issuer = set(&self.oidc_issuer);
        for (var, value) in [
            ("CONVO_OIDC_ISSUER", issuer),
            ("CONVO_OIDC_JWKS_URL", set(&self.oidc_jwks_url)),
        ] {
            if let Some(value) = value {
                c.require(
                    secure_or_local(value),
                    var,
                    value,
                    "an https:// URL with a host (http:// only on a loopback address), \
                     without a user name, password, query or fragment",
                );
            }
        }
        match (issuer, set(&self.oidc_audience)) {
            (Some(_), None) => c.require(
                false,
                "CONVO_OIDC_AUDIENCE",
                "(unset)",
                "the audience tokens must name (this API's client id at the issuer); \
                 required with CONVO_OIDC_ISSUER",
            ),
            (None, Some(audience)) => c.require(
                false,
                "CONVO_OIDC_AUDIENCE",
                audience,
                "nothing without CONVO_OIDC_ISSUER: set the issuer too, or unset this",
            ),
            _ => {}
        }
        if let (None, Some(url)) = (issuer, set(&self.oidc_jwks_url)) {
            c.require(
                false,
                "CONVO_OIDC_JWKS_URL",
                url,
                "nothing without CONVO_OIDC_ISSUER: set the issuer too, or unset this",
            );
        }
    }
}

/// The value, unless unset or blank.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `https` with a host, or `http` to a loopback host; no credentials,
/// query or fragment (an issuer identifier has none: Discovery §2).
fn secure_or_local(value: &str) -> bool {
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(issuer: Option<&str>, audience: Option<&str>, jwks: Option<&str>) -> Config {
        let mut config = Config::defaults();
        config.oidc_issuer = issuer.map(Into::into);
        config.oidc_audience = audience.map(Into::into);
        config.oidc_jwks_url = jwks.map(Into::into);
        config
    }

    #[test]
    fn an_https_or_loopback_issuer_with_an_audience_is_accepted() {
        for issuer in [
            "https://id.example.com/realms/main",
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
        ] {
            let config = with(Some(issuer), Some("convo"), None);
            assert_eq!(config.validate(), Ok(()), "{issuer}");
            let oidc = config.oidc().expect("configured");
            assert_eq!(
                (oidc.issuer.as_str(), oidc.audience.as_str()),
                (issuer, "convo")
            );
        }
        assert!(Config::defaults().oidc().is_none(), "off by default");
    }

    #[test]
    fn each_unusable_oidc_setting_is_named() {
        let cases: [(Config, &str); 7] = [
            (
                with(Some("http://id.example.com"), Some("a"), None),
                "CONVO_OIDC_ISSUER",
            ),
            (
                with(Some("not a url"), Some("a"), None),
                "CONVO_OIDC_ISSUER",
            ),
            (
                with(Some("https://u:p@id.example.com"), Some("a"), None),
                "CONVO_OIDC_ISSUER",
            ),
            (
                with(Some("https://id.example.com"), None, None),
                "CONVO_OIDC_AUDIENCE",
            ),
            (with(None, Some("a"), None), "CONVO_OIDC_AUDIENCE"),
            (
                with(None, None, Some("https://id.example.com/jwks")),
                "CONVO_OIDC_JWKS_URL",
            ),
            (
                with(
                    Some("https://id.example.com"),
                    Some("a"),
                    Some("http://10.0.0.1/jwks"),
                ),
                "CONVO_OIDC_JWKS_URL",
            ),
        ];
        for (config, var) in cases {
            let refused = config.validate().expect_err(var);
            assert!(refused.names(var), "{var} must be named: {refused}");
        }
    }
}
