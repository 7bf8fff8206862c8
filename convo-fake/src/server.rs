//! The listener, the routes and the test endpoints (`/__requests`,
//! `/__stats`, `/__reset`, `/__config`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::conn::{ResetFlag, Resettable};
use crate::http::{self, Abort, Reply};
use crate::knobs::{self, Knobs};
use crate::log::RequestLog;
use crate::signature::Signer;

/// How the fake is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Knobs applied to every request (a request's own override them).
    pub knobs: Map<String, Value>,
    /// Gemini ids served on top of today's (`*` serves any id), e.g. for
    /// an account that still has `gemini-2.5-flash`.
    pub extra_models: Vec<String>,
    /// When set, only this API key is accepted.
    pub api_key: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            knobs: Map::new(),
            extra_models: Vec::new(),
            api_key: None,
        }
    }
}

/// The fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The server-wide knobs are not valid.
    #[error("bad knobs: {0}")]
    Knobs(#[from] knobs::KnobError),
}

/// What every request handler shares.
pub(crate) struct App {
    pub log: RequestLog,
    pub signer: Signer,
    pub extra_models: Vec<String>,
    pub api_key: Option<String>,
    /// Server-wide knobs: the options', then `/__config`'s.
    pub config: Mutex<Map<String, Value>>,
}

impl App {
    /// The server-wide knobs now.
    pub fn base_knobs(&self) -> Knobs {
        Knobs(self.config.lock().map(|c| c.clone()).unwrap_or_default())
    }
}

/// A request as the handlers see it.
pub(crate) struct Inbound {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub flag: ResetFlag,
}

impl Inbound {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running fake; it stops (dropping every connection) when dropped.
pub struct FakeModel {
    addr: SocketAddr,
    app: Arc<App>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeModel {
    /// Binds `options.listen` and serves on the current tokio runtime.
    pub async fn start(options: Options) -> Result<Self, StartError> {
        let config = knobs::normalize(&Value::Object(options.knobs.clone()))?;
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|e| StartError::Bind(options.listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(options.listen, e))?;
        let app = Arc::new(App {
            log: RequestLog::default(),
            signer: Signer::random(),
            extra_models: options.extra_models,
            api_key: options.api_key,
            config: Mutex::new(config),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&app)));
        Ok(Self { addr, app, task })
    }

    /// `http://<address>`: the base URL for Gemini and OpenAI clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every recorded request, oldest first (as `GET /__requests`).
    pub fn requests(&self) -> Vec<Value> {
        self.app.log.requests(0, 0)
    }

    /// `{total, in_flight, max_in_flight, by_status, recorded}` (as `GET /__stats`).
    pub fn stats(&self) -> Value {
        self.app.log.stats()
    }

    /// Clears the log, the stats and the `fail_first_n` counters (as `POST /__reset`).
    pub fn reset(&self) {
        self.app.log.reset();
    }

    /// Serves until the task is aborted (the binary's way to run forever).
    pub async fn wait(self) {
        let task = &mut { self }.task;
        let _ = task.await;
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        // The accept loop owns the connections: aborting it drops them all.
        self.task.abort();
    }
}

/// Accepts connections until aborted; each is served on a task of the set,
/// so dropping the set (with this future) ends them.
async fn serve(listener: TcpListener, app: Arc<App>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let flag = ResetFlag::default();
                let io = TokioIo::new(Resettable::new(stream, flag.clone()));
                let app = Arc::clone(&app);
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&app), flag.clone(), req));
                    // A connection ending badly is what faults are for.
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads the request, routes it, counts the status; an `Err` drops the connection.
async fn handle(app: Arc<App>, flag: ResetFlag, req: Request<Incoming>) -> Result<Reply, Abort> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Abort),
    };
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let request = Inbound {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers,
        body,
        flag,
    };
    let reply = route(&app, request).await;
    if let Ok(r) = &reply {
        app.log.status(r.status().as_u16());
    }
    reply
}

/// `a=1&b=2` into a map (percent-decoding the little the tests need).
fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(app: &Arc<App>, req: Inbound) -> Result<Reply, Abort> {
    let path = req.path.clone();
    let method = req.method.clone();
    match (method.clone(), path.as_str()) {
        (_, "/__health" | "/healthz") => Ok(http::json(200, &json!({"ok": true}), &[])),
        (Method::GET, "/__requests") => {
            let number = |k: &str| {
                req.query
                    .get(k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let list = app.log.requests(number("since"), number("limit") as usize);
            Ok(http::json(200, &Value::Array(list), &[]))
        }
        (Method::GET, "/__stats") => Ok(http::json(200, &app.log.stats(), &[])),
        (Method::POST, "/__reset") => {
            app.log.reset();
            if req.query.get("config").map(String::as_str) == Some("1") {
                if let Ok(mut c) = app.config.lock() {
                    c.clear();
                }
            }
            Ok(http::json(200, &json!({"ok": true}), &[]))
        }
        (_, "/__config") => Ok(config(app, &req)),
        // A webhook tool's receiver that answers at once (the benchmark's
        // tool turn): nothing checked, nothing logged.
        (Method::POST, "/__webhook") => Ok(http::json(200, &json!({"ok": true}), &[])),
        (Method::GET, "/v1/models") => Ok(crate::openai::models()),
        (_, "/v1/models") => Ok(not_allowed()),
        (_, "/v1/chat/completions") => crate::openai::chat(app, req).await,
        _ => crate::gemini::route(app, req).await,
    }
}

/// `GET` reads, `POST` merges, `PUT` replaces the server-wide knobs.
fn config(app: &App, req: &Inbound) -> Reply {
    if req.method == Method::POST || req.method == Method::PUT {
        let parsed = crate::asked::parse(if req.body.is_empty() {
            b"{}"
        } else {
            &req.body
        });
        match parsed {
            Ok(new) => {
                if let Ok(mut c) = app.config.lock() {
                    if req.method == Method::PUT {
                        c.clear();
                    }
                    c.extend(new);
                }
                // A new scenario: the server-wide fail_first_n counts again.
                app.log.reset_counter(GLOBAL_SCENARIO);
            }
            Err(message) => {
                return http::json(
                    400,
                    &json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}),
                    &[],
                );
            }
        }
    }
    http::json(200, &json!({"effective": app.base_knobs().0}), &[])
}

/// The `fail_first_n` scenario of server-wide knobs.
pub(crate) const GLOBAL_SCENARIO: &str = "__global__";

/// A JSON response to a method the route does not take.
pub(crate) fn not_allowed() -> Reply {
    http::json(
        405,
        &json!({"error": {"code": 405, "message": "Method not allowed", "status": "UNIMPLEMENTED"}}),
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_and_decoded() {
        let q = parse_query("alt=sse&key=a%20b&x");
        assert_eq!(q["alt"], "sse");
        assert_eq!(q["key"], "a b");
        assert_eq!(q["x"], "");
        assert_eq!(decode("100%"), "100%");
    }
}
