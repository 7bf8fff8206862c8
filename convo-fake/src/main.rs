//! `convo-fake`: the fake model server on a port of your choice.
//!
//! ```text
//! cargo run -p convo-fake -- --port 8091 [--host 127.0.0.1] [--knobs '{"delay_ms":200}']
//!   [--models gemini-2.5-flash,…] [--api-key KEY]
//! ```
//! Then point `GEMINI_BASE_URL` / `OPENAI_BASE_URL` at the printed URL.
//! A test double: never for production.

use std::net::{IpAddr, SocketAddr};

use convo_fake::{FakeModel, Options};

const USAGE: &str =
    "usage: convo-fake [--port N] [--host ADDR] [--knobs JSON] [--models a,b] [--api-key KEY]";

fn options() -> Result<Options, String> {
    let mut options = Options::default();
    let (mut host, mut port): (IpAddr, u16) = ([127, 0, 0, 1].into(), 8091);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--port" => port = value.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => host = value.parse().map_err(|e| format!("--host: {e}"))?,
            "--knobs" => {
                let knobs: serde_json::Value =
                    serde_json::from_str(&value).map_err(|e| format!("--knobs: {e}"))?;
                options.knobs = knobs
                    .as_object()
                    .cloned()
                    .ok_or("--knobs must be a JSON object")?;
            }
            "--models" => {
                options.extra_models = value
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty())
                    .collect()
            }
            "--api-key" => options.api_key = Some(value),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    options.listen = SocketAddr::new(host, port);
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let fake = match FakeModel::start(options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("convo-fake: {e}");
            std::process::exit(1);
        }
    };
    // The first line says where it listens (scripts read it).
    println!(
        "convo-fake listening on {} (a test double: never for production)",
        fake.url()
    );
    tokio::select! {
        _ = fake.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
