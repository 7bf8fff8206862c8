//! Prometheus metrics at `GET /metrics` (text format), through the
//! `metrics` facade and `metrics-exporter-prometheus`:
//!
//! - `convo_http_requests_total{route, method, status}` and
//!   `convo_http_request_duration_seconds{route, method}`, by the OpenAPI
//!   path template (`/api/chat/{chat_session_id}/message`), never the raw path;
//! - `convo_llm_calls_total{provider, outcome}`,
//!   `convo_llm_call_duration_seconds{provider}`,
//!   `convo_llm_tokens_total{provider, kind}` (from the engine);
//! - `convo_store_operation_duration_seconds{op}`, `convo_store_errors_total{op}`
//!   (`convo_core::InstrumentedStore`);
//! - `convo_sse_streams_open`, `convo_turn_lock_conflicts_total`.
//!
//! The recorder is process-wide: it is installed on first use, unless the
//! embedding program installed its own (then `/metrics` answers 404 and
//! the program's recorder gets the same records).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{handler, IntoResponse, Response};

/// Histogram buckets, in seconds: 100 µs to 60 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10.0, 60.0,
];

/// The recorder's handle, installing it on first use; `None` if another
/// recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// `GET /metrics` on the metrics listener.
#[handler]
pub fn endpoint() -> Response {
    render()
}

/// The metrics in Prometheus's text format (404 when another recorder owns
/// the process).
pub fn render() -> Response {
    match handle() {
        Some(h) => h
            .render()
            .with_content_type("text/plain; version=0.0.4; charset=utf-8")
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Records one HTTP request.
///
/// The handles of each (route, method, status) are kept per thread: building
/// a labelled key and looking it up in the registry on every request cost
/// more than the rest of this module.
pub fn record_request(
    route: &'static str,
    method: &poem::http::Method,
    status: u16,
    took: Duration,
) {
    type Handles = (metrics::Counter, metrics::Histogram);
    thread_local! {
        static HANDLES: std::cell::RefCell<
            std::collections::HashMap<(&'static str, poem::http::Method, u16), Handles>,
        > =
            std::cell::RefCell::default();
    }
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (route, method.clone(), status);
        let (count, latency) = cache.entry(key).or_insert_with(|| {
            (
                metrics::counter!(
                    "convo_http_requests_total",
                    "route" => route,
                    "method" => method.to_string(),
                    "status" => status.to_string()
                ),
                metrics::histogram!(
                    "convo_http_request_duration_seconds",
                    "route" => route,
                    "method" => method.to_string()
                ),
            )
        });
        count.increment(1);
        latency.record(took.as_secs_f64());
    });
}

/// Counts an open event stream until dropped (`convo_sse_streams_open`).
#[derive(Debug)]
pub struct OpenStream(());

impl OpenStream {
    /// One more open stream.
    pub fn open() -> Self {
        metrics::gauge!("convo_sse_streams_open").increment(1.0);
        Self(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("convo_sse_streams_open").decrement(1.0);
    }
}
