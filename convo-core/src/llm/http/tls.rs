//! The HTTPS client configuration: rustls with ring, Mozilla's roots.
//!
//! ring, not aws-lc-rs, because the MongoDB driver brings ring and two
//! providers in one process make rustls refuse to pick (docs/stack.md, note 1).
//! The provider is passed explicitly, so an embedding program's own
//! process-wide rustls setting is left alone.

use std::sync::Arc;

/// A rustls client configuration for HTTPS with HTTP/2 and HTTP/1.1.
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_configuration_uses_ring_public_roots_and_offers_http2() {
        let config = client_config().expect("config builds");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let provider = config.crypto_provider();
        assert!(!provider.cipher_suites.is_empty());
        assert!(
            provider
                .cipher_suites
                .iter()
                .all(|s| s.version() == &rustls::version::TLS13
                    || s.version() == &rustls::version::TLS12),
            "TLS 1.2+ only"
        );
        assert!(
            webpki_roots::TLS_SERVER_ROOTS.len() > 100,
            "Mozilla's root store"
        );
    }
}
