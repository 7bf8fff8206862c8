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
//!   (`convo_core::store::InstrumentedStore`);
//! - `convo_sse_streams_open`, `convo_turn_lock_conflicts_total`.
//!
//! The recorder is process-wide: it is installed on first use, unless the
//! embedding program installed its own (then `/metrics` answers 404 and
//! the program's recorder gets the same records).
//!
//! Nothing here may grow with what clients send: labels come from closed
//! sets (route templates or `other`, the standard methods or `other`), and
//! [`upkeep`] drains histogram samples whether or not anyone scrapes.

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

/// How often [`upkeep`] drains histogram samples into their buckets: the
/// exporter's own default upkeep interval (`PrometheusBuilder::upkeep_timeout`,
/// 5 s in metrics-exporter-prometheus 0.18), which only its own HTTP
/// listener runs; we serve `/metrics` ourselves, so we run it. Between two
/// drains samples pile up at the request rate (8 bytes each: 5 s at 50k
/// requests/s is ~2 MB), so a shorter interval buys little and a longer
/// one lets a burst hold more.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Drains recorded histogram samples every [`UPKEEP_INTERVAL`] until dropped
/// (the server holds it for as long as it runs).
///
/// Without it, histogram samples are only drained by a scrape: a server
/// nobody scrapes keeps every latency it ever recorded.
pub fn upkeep() -> Upkeep {
    match handle() {
        Some(handle) => Upkeep::every(UPKEEP_INTERVAL, move || handle.run_upkeep()),
        // Another recorder owns the process; its owner keeps it.
        None => Upkeep(None),
    }
}

/// A background task doing periodic metrics work; dropping it stops the task.
#[derive(Debug)]
pub struct Upkeep(Option<tokio::task::JoinHandle<()>>);

impl Upkeep {
    /// Runs `work` now and then every `period`, on the current runtime.
    pub fn every(period: Duration, mut work: impl FnMut() + Send + 'static) -> Self {
        Self(Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            // After a stall, one catch-up run is enough: a drain takes everything.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                work();
            }
        })))
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
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

/// The `method` label of a request: one of the methods RFC 9110 defines
/// (plus PATCH, RFC 5789), or `other`. A method is any token a client likes,
/// so labelling it as sent would make a new series per invented method.
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Records one HTTP request.
///
/// The handles of each (route, method, status) are kept per thread: building
/// a labelled key and looking it up in the registry on every request cost
/// more than the rest of this module. The key holds labels, not the raw
/// method, so the cache is as bounded as the series are.
pub fn record_request(
    route: &'static str,
    method: &poem::http::Method,
    status: u16,
    took: Duration,
) {
    type Handles = (metrics::Counter, metrics::Histogram);
    thread_local! {
        static HANDLES: std::cell::RefCell<
            std::collections::HashMap<(&'static str, &'static str, u16), Handles>,
        > =
            std::cell::RefCell::default();
    }
    let method = method_label(method);
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (count, latency) = cache.entry((route, method, status)).or_insert_with(|| {
            (
                metrics::counter!(
                    "convo_http_requests_total",
                    "route" => route,
                    "method" => method,
                    "status" => status.to_string()
                ),
                metrics::histogram!(
                    "convo_http_request_duration_seconds",
                    "route" => route,
                    "method" => method
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use poem::http::Method;

    use super::{method_label, Upkeep};

    #[tokio::test(start_paused = true)]
    async fn upkeep_runs_on_its_interval_and_stops_when_dropped() {
        // Arrange
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let upkeep = Upkeep::every(Duration::from_secs(5), move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });

        // Act: 11 s of (paused, auto-advanced) time: runs at 0, 5 and 10 s.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let while_held = runs.load(Ordering::SeqCst);
        drop(upkeep);
        tokio::time::sleep(Duration::from_secs(60)).await;

        // Assert
        assert_eq!(while_held, 3, "one run at start, then one per interval");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no run after the drop");
    }

    #[test]
    fn standard_methods_keep_their_name_and_invented_ones_are_other() {
        let cases = [
            ("GET", "GET"),
            ("HEAD", "HEAD"),
            ("POST", "POST"),
            ("PUT", "PUT"),
            ("PATCH", "PATCH"),
            ("DELETE", "DELETE"),
            ("OPTIONS", "OPTIONS"),
            ("CONNECT", "CONNECT"),
            ("TRACE", "TRACE"),
            ("get", "other"),
            ("PROPFIND", "other"),
            ("XYZZY123", "other"),
        ];
        for (sent, label) in cases {
            let method = Method::from_bytes(sent.as_bytes()).expect("a method token");
            assert_eq!(method_label(&method), label, "{sent}");
        }
    }
}
