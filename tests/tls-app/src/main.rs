//! Builds what an embedding program builds at start-up, in a process whose
//! rustls has aws-lc-rs (reqwest's default) and, with `with-ring`, ring too,
//! and exits 0. Before convo-core let the embedder choose, its `gemini`
//! feature switched rustls's ring on, and the program's own
//! `rustls::ClientConfig::builder()` (as any TLS crate calls it) panicked:
//! "Could not automatically determine the process-level CryptoProvider".

use convo_core::llm::gemini::{GeminiConfig, GeminiProvider};

fn main() {
    // The program's own HTTP client, on reqwest's defaults.
    let client = reqwest::Client::new();

    // Convo's providers: on their own client, and on the program's.
    GeminiProvider::new(GeminiConfig::new("not-a-real-key"))
        .expect("GeminiProvider builds its own HTTPS client");
    let _shared = GeminiProvider::with_client(GeminiConfig::new("not-a-real-key"), client);

    // What panicked: rustls picking the process's provider from its crate
    // features. With only aws-lc-rs compiled in, it can. (With ring too, by
    // rustls's own rule, it cannot: a program wanting both installs a
    // process default first, which convo-core then follows.)
    if cfg!(feature = "with-ring") {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        GeminiProvider::new(GeminiConfig::new("not-a-real-key"))
            .expect("GeminiProvider builds on the installed process default");
    }
    let _config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();

    println!("tls-app: reqwest (aws-lc-rs) and convo-core's GeminiProvider built without a panic");
}
