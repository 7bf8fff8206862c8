//! The HTTPS client configuration: rustls, Mozilla's roots, and the crypto
//! provider the embedding program chose.
//!
//! rustls needs one crypto provider (ring or aws-lc-rs). Which one is the
//! embedder's choice, not this crate's: a provider the program installed as
//! the process default (`CryptoProvider::install_default`) wins; otherwise
//! the one convo-core's features name (`rustls-aws-lc` if on, else
//! `rustls-ring`, the default). The provider is always passed explicitly,
//! never looked up from rustls's crate features, because with both compiled
//! in (reqwest's default brings aws-lc-rs, the MongoDB driver ring) rustls's
//! own automatic choice gives up and panics.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// Why no HTTPS configuration could be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TlsError {
    /// No process-default crypto provider is installed and convo-core was
    /// built with neither `rustls-ring` nor `rustls-aws-lc`.
    #[error(
        "no rustls crypto provider: install a process default \
         (rustls::crypto::CryptoProvider::install_default) or enable convo-core's \
         feature `rustls-ring` or `rustls-aws-lc`"
    )]
    NoCryptoProvider,
    /// rustls refused the configuration (e.g. a provider with no TLS 1.2 or
    /// 1.3 cipher suite).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A rustls client configuration for HTTPS with HTTP/2 and HTTP/1.1, on the
/// process-default crypto provider if one is installed, else on the one
/// convo-core's features name.
pub fn client_config() -> Result<rustls::ClientConfig, TlsError> {
    let provider = choose_provider(CryptoProvider::get_default().cloned())?;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The process default when there is one, else the features' provider.
fn choose_provider(
    process_default: Option<Arc<CryptoProvider>>,
) -> Result<Arc<CryptoProvider>, TlsError> {
    process_default
        .or_else(feature_provider)
        .ok_or(TlsError::NoCryptoProvider)
}

/// The provider convo-core's features name. `rustls-aws-lc` wins when both
/// are on: `rustls-ring` is a default feature, so having both on usually
/// means the embedder added `rustls-aws-lc` and kept the defaults.
fn feature_provider() -> Option<Arc<CryptoProvider>> {
    #[cfg(feature = "rustls-aws-lc")]
    return Some(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    return Some(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
    return None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_configuration_uses_tls12_or_13_public_roots_and_offers_http2() {
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

    #[test]
    fn an_installed_process_default_provider_is_preferred() {
        let installed = Arc::new(rustls::crypto::ring::default_provider());

        let chosen = choose_provider(Some(Arc::clone(&installed))).expect("a provider");

        assert!(
            Arc::ptr_eq(&chosen, &installed),
            "the process default must be used as it is"
        );
    }

    #[test]
    fn without_a_process_default_the_features_provider_is_used() {
        // This crate's tests build with `rustls-ring` (a default feature) or
        // `--all-features`, so there is always a feature provider.
        let chosen = choose_provider(None).expect("a feature provider");

        assert!(!chosen.cipher_suites.is_empty());
    }

    #[test]
    fn the_client_configuration_follows_the_installed_process_default() {
        // Another test in this process may have installed one first: either
        // way, the configuration must use whatever is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let installed = CryptoProvider::get_default().expect("a default is installed");

        let config = client_config().expect("config builds");

        assert!(
            Arc::ptr_eq(config.crypto_provider(), installed),
            "client_config must use the process-default provider"
        );
    }
}
