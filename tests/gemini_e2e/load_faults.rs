//! Every fake-gemini fault knob at once: 200 concurrent sends, plain and
//! streamed, each with a fault of its own in a chat session of its own, then
//! the aftermath.
//!
//! Each request must get the contract's answer (docs/api.md: 201, or
//! 503 `llm_unavailable`, 504 `llm_timeout`, 502 `llm_error`/`llm_blocked`;
//! for streams `message.completed` or an `error` event), and the fake must
//! have seen exactly the attempts the retry policy allows. Afterwards the
//! server answers its probes, every session holds each message exactly once
//! with seqs 1..n, no turn lock is held (asked of the store itself), and a
//! second turn in every session succeeds with the whole history as context.
//!
//! A few sessions get two sends at once: the second goes out once the first
//! stream has said `message.created` (its turn holds the lock, for the four
//! seconds its slow chunks take) and must be a 409 `turn_in_progress` that
//! stores nothing and never reaches the model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use convo::core::{MemoryStore, SessionId, Store, UserId};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::helpers::{deltas, names, parse_sse, spawn_app_with_store, with_knobs, GeminiApp};

/// Sessions that get one send each.
const SINGLES: usize = 192;
/// Sessions that get two sends at once (one answered, one 409): 200 sends in all.
const PAIRS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Plain,
    Stream,
}

/// Text streamed before a stream's `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    None,
    Some,
    Any,
}

/// What the client must see.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 201, or `message.completed`: the whole echo with this finish reason.
    Reply(&'static str),
    /// `message.completed` with the text streamed before a safety stop.
    Partial(&'static str),
    /// The documented failure: `status` (plain sends; a stream opens with
    /// 200 and ends with an `error` event), code, retryable, `Retry-After`
    /// (plain sends), text streamed first (streams).
    Fail {
        status: u16,
        code: &'static str,
        retryable: bool,
        retry_after: Option<&'static str>,
        text: Text,
    },
    /// 409 `turn_in_progress`: the session's other send holds the lock.
    Busy,
}

const UNAVAILABLE: (u16, &str, bool) = (503, "llm_unavailable", true);
const TIMEOUT: (u16, &str, bool) = (504, "llm_timeout", true);
const LLM_ERROR: (u16, &str, bool) = (502, "llm_error", false);
const BLOCKED: (u16, &str, bool) = (502, "llm_blocked", false);

fn fail(kind: (u16, &'static str, bool), retry_after: Option<&'static str>, text: Text) -> Expect {
    let (status, code, retryable) = kind;
    Expect::Fail {
        status,
        code,
        retryable,
        retry_after,
        text,
    }
}

/// A fault and what it must come to.
struct Scenario {
    name: &'static str,
    via: Via,
    knobs: Value,
    expect: Expect,
    /// The fake's `outcome` for each attempt the server makes, in order.
    attempts: Vec<&'static str>,
}

fn scenario(
    name: &'static str,
    via: Via,
    knobs: Value,
    expect: Expect,
    attempts: &'static str,
) -> Scenario {
    let attempts = attempts.split_whitespace().collect();
    Scenario {
        name,
        via,
        knobs,
        expect,
        attempts,
    }
}

/// Every knob, on both routes where it means something.
#[rustfmt::skip]
fn scenarios() -> Vec<Scenario> {
    use Expect::{Partial, Reply};
    use Via::{Plain as P, Stream as S};
    let (no, some, any) = (Text::None, Text::Some, Text::Any);
    let flaky = json!({"fail": "429", "fail_first_n": 2, "retry_delay": "0.1s"});
    vec![
        scenario("plain-ok", P, json!({}), Reply("stop"), "ok"),
        scenario("plain-slow-first-byte", P, json!({"delay_ms": 300}), Reply("stop"), "ok"),
        scenario("plain-429-twice-then-ok", P, flaky.clone(), Reply("stop"), "429 429 ok"),
        scenario("plain-503-once", P, json!({"fail": "503", "fail_first_n": 1}), Reply("stop"), "503 ok"),
        scenario("plain-500-once", P, json!({"fail": "500", "fail_first_n": 1}), Reply("stop"), "500 ok"),
        scenario("plain-reset-once", P, json!({"fail": "reset", "fail_first_n": 1}), Reply("stop"), "reset ok"),
        scenario("plain-max-tokens", P, json!({"finish_reason": "MAX_TOKENS"}), Reply("max_tokens"), "ok"),
        scenario("plain-unknown-finish", P, json!({"finish_reason": "SOMETHING_NEW"}), Reply("other"), "ok"),
        scenario("plain-429-persists", P, json!({"fail": "429", "retry_delay": "0.1s"}), fail(UNAVAILABLE, Some("1"), no), "429 429 429"),
        // 37 s is past the 8 s budget: no wait, Gemini's delay for the client.
        scenario("plain-429-past-budget", P, json!({"fail": "429", "retry_delay": "37s"}), fail(UNAVAILABLE, Some("37"), no), "429"),
        scenario("plain-429-no-retry-info", P, json!({"fail": "429_no_retry_info"}), fail(UNAVAILABLE, None, no), "429_no_retry_info 429_no_retry_info 429_no_retry_info"),
        scenario("plain-500", P, json!({"fail": "500"}), fail(UNAVAILABLE, None, no), "500 500 500"),
        scenario("plain-503", P, json!({"fail": "503"}), fail(UNAVAILABLE, None, no), "503 503 503"),
        scenario("plain-504", P, json!({"fail": "504"}), fail(TIMEOUT, None, no), "504"),
        scenario("plain-timeout", P, json!({"fail": "timeout"}), fail(TIMEOUT, None, no), "timeout"),
        scenario("plain-reset", P, json!({"fail": "reset"}), fail(UNAVAILABLE, None, no), "reset reset reset"),
        scenario("plain-cut-body", P, json!({"fail": "cut_stream"}), fail(UNAVAILABLE, None, no), "cut_stream"),
        scenario("plain-cut-body-reset", P, json!({"fail": "cut_stream_reset"}), fail(UNAVAILABLE, None, no), "cut_stream_reset"),
        scenario("plain-stream-error", P, json!({"fail": "stream_error"}), fail(UNAVAILABLE, None, no), "stream_error stream_error stream_error"),
        scenario("plain-malformed", P, json!({"fail": "malformed"}), fail(LLM_ERROR, None, no), "malformed"),
        scenario("plain-blocked", P, json!({"fail": "blocked"}), fail(BLOCKED, None, no), "blocked"),
        scenario("plain-safety-stop", P, json!({"fail": "safety_stop"}), fail(BLOCKED, None, no), "safety_stop"),
        scenario("plain-400", P, json!({"fail": "400"}), fail(LLM_ERROR, None, no), "400"),
        scenario("plain-401", P, json!({"fail": "401"}), fail(LLM_ERROR, None, no), "401"),
        scenario("plain-403", P, json!({"fail": "403"}), fail(LLM_ERROR, None, no), "403"),
        scenario("plain-404", P, json!({"fail": "404"}), fail(LLM_ERROR, None, no), "404"),
        scenario("plain-bad-key", P, json!({"fail": "bad_key"}), fail(LLM_ERROR, None, no), "bad_key"),
        scenario("plain-failed-precondition", P, json!({"fail": "failed_precondition"}), fail(LLM_ERROR, None, no), "failed_precondition"),
        scenario("stream-ok", S, json!({}), Reply("stop"), "ok"),
        scenario("stream-slow-chunks", S, json!({"chunks": 4, "chunk_delay_ms": 100}), Reply("stop"), "ok"),
        scenario("stream-429-twice-then-ok", S, flaky, Reply("stop"), "429 429 ok"),
        scenario("stream-503-once", S, json!({"fail": "503", "fail_first_n": 1}), Reply("stop"), "503 ok"),
        scenario("stream-reset-once", S, json!({"fail": "reset", "fail_first_n": 1}), Reply("stop"), "reset ok"),
        scenario("stream-max-tokens", S, json!({"finish_reason": "MAX_TOKENS"}), Reply("max_tokens"), "ok"),
        scenario("stream-safety-stop-after-text", S, json!({"fail": "safety_stop", "chunks": 6}), Partial("safety"), "safety_stop"),
        scenario("stream-429-persists", S, json!({"fail": "429", "retry_delay": "0.1s"}), fail(UNAVAILABLE, None, no), "429 429 429"),
        scenario("stream-429-past-budget", S, json!({"fail": "429", "retry_delay": "37s"}), fail(UNAVAILABLE, None, no), "429"),
        scenario("stream-503", S, json!({"fail": "503"}), fail(UNAVAILABLE, None, no), "503 503 503"),
        scenario("stream-504", S, json!({"fail": "504"}), fail(TIMEOUT, None, no), "504"),
        scenario("stream-timeout", S, json!({"fail": "timeout"}), fail(TIMEOUT, None, no), "timeout"),
        // 3 s between chunks; the idle timeout is 2 s.
        scenario("stream-idle-timeout", S, json!({"chunks": 4, "chunk_delay_ms": 3000}), fail(TIMEOUT, None, some), "ok"),
        scenario("stream-reset", S, json!({"fail": "reset"}), fail(UNAVAILABLE, None, no), "reset reset reset"),
        scenario("stream-cut", S, json!({"fail": "cut_stream", "chunks": 6}), fail(LLM_ERROR, None, some), "cut_stream"),
        scenario("stream-cut-reset", S, json!({"fail": "cut_stream_reset", "chunks": 6}), fail(UNAVAILABLE, None, any), "cut_stream_reset"),
        scenario("stream-error-raw", S, json!({"fail": "stream_error", "chunks": 6}), fail(UNAVAILABLE, None, some), "stream_error"),
        scenario("stream-error-data", S, json!({"fail": "stream_error", "error_framing": "data", "chunks": 6}), fail(UNAVAILABLE, None, some), "stream_error"),
        scenario("stream-malformed-chunk", S, json!({"fail": "malformed", "chunks": 6}), fail(LLM_ERROR, None, some), "malformed"),
        scenario("stream-blocked", S, json!({"fail": "blocked"}), fail(BLOCKED, None, no), "blocked"),
        scenario("stream-safety-stop-at-once", S, json!({"fail": "safety_stop", "chunks": 2}), fail(BLOCKED, None, no), "safety_stop"),
        scenario("stream-400", S, json!({"fail": "400"}), fail(LLM_ERROR, None, no), "400"),
        scenario("stream-bad-key", S, json!({"fail": "bad_key"}), fail(LLM_ERROR, None, no), "bad_key"),
    ]
}

/// One send.
struct Case {
    session: String,
    /// Unique per send: the fake's `tag` knob, so its log says whose attempt
    /// each request was (and `fail_first_n` counts per send).
    tag: String,
    name: &'static str,
    /// The `fail` knob, for the figures.
    fault: String,
    /// The message without the directive: what the fake echoes.
    text: String,
    /// The message as sent and stored.
    content: String,
    /// Messages the model is sent with this one (the fake's `contents=`).
    contents: usize,
    via: Via,
    expect: Expect,
    attempts: Vec<&'static str>,
}

impl Case {
    /// The first message of `session`, carrying `scenario`'s knobs.
    fn new(session: &str, tag: String, scenario: &Scenario) -> Self {
        let text = format!("load {tag} {}", scenario.name);
        let mut knobs = scenario.knobs.clone();
        knobs["tag"] = json!(tag);
        Self {
            session: session.to_owned(),
            fault: scenario.knobs["fail"].as_str().unwrap_or("none").to_owned(),
            content: with_knobs(&text, knobs),
            text,
            contents: 1,
            tag,
            name: scenario.name,
            via: scenario.via,
            expect: scenario.expect,
            attempts: scenario.attempts.clone(),
        }
    }

    /// A fault-free message after `earlier` stored messages, all in its context.
    fn next_turn(session: &str, tag: String, via: Via, earlier: usize) -> Self {
        let text = format!("load {tag} again");
        Self {
            session: session.to_owned(),
            fault: "none".into(),
            content: text.clone(),
            text,
            contents: earlier + 1,
            tag,
            name: "next-turn",
            via,
            expect: Expect::Reply("stop"),
            attempts: vec!["ok"],
        }
    }

    /// The fake's whole reply to this message.
    fn echo(&self) -> String {
        format!(
            "echo: {} [contents={}; system=yes]",
            self.text, self.contents
        )
    }

    fn who(&self) -> String {
        format!("{} {}", self.tag, self.name)
    }
}

/// A message a session must hold: exactly as answered, or (a failed plain
/// send's user message, never shown to the client) a user message with this content.
#[derive(Debug)]
enum Want {
    Exact(Value),
    User(String),
}

/// What came back for one send.
#[derive(Debug)]
struct Got {
    status: u16,
    content_type: String,
    request_id: bool,
    retry_after: Option<String>,
    /// The whole body: JSON, or the event stream.
    body: String,
}

impl Got {
    async fn read(resp: reqwest::Response) -> Self {
        let mut got = Self::head(&resp);
        got.body = resp
            .text()
            .await
            .unwrap_or_else(|e| format!("<body lost: {e}>"));
        got
    }

    fn head(resp: &reqwest::Response) -> Self {
        let header = |name: &str| {
            let value = resp.headers().get(name)?;
            Some(value.to_str().unwrap_or("<not text>").to_owned())
        };
        Self {
            status: resp.status().as_u16(),
            content_type: header("content-type").unwrap_or_default(),
            request_id: header("x-request-id").is_some_and(|v| !v.is_empty()),
            retry_after: header("retry-after"),
            body: String::new(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Everything that did not hold, reported together at the end of a phase.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self, phase: &str) {
        let shown: Vec<String> = self.0.iter().take(40).map(|p| format!("- {p}")).collect();
        assert!(
            self.0.is_empty(),
            "{phase}: {} problem(s):\n{}",
            self.0.len(),
            shown.join("\n")
        );
    }
}

/// Sends `case` and reads the whole answer.
async fn fire(app: &GeminiApp, case: &Case) -> Got {
    let resp = match case.via {
        Via::Plain => app.send_to(&case.session, &case.content).await,
        Via::Stream => app.stream_to(&case.session, &case.content).await,
    };
    Got::read(resp).await
}

/// Streams `first`; once it has said `message.created` (its turn holds the
/// lock), sends `second` to the same session; then reads `first` to its end.
async fn fire_pair(app: &GeminiApp, first: &Case, second: &Case) -> (Got, Got) {
    let mut resp = app.stream_to(&first.session, &first.content).await;
    let mut got = Got::head(&resp);
    let mut body = Vec::new();
    let mut second_got = None;
    while let Some(bytes) = resp
        .chunk()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", first.tag))
    {
        body.extend_from_slice(&bytes);
        if second_got.is_none() && String::from_utf8_lossy(&body).contains("message.created") {
            second_got = Some(fire(app, second).await);
        }
    }
    got.body = String::from_utf8_lossy(&body).into_owned();
    let second_got = match second_got {
        Some(got) => got,
        // The first never opened: still send the second, and let the checks say so.
        None => fire(app, second).await,
    };
    (got, second_got)
}

/// Checks one answer against the contract; returns the messages the session
/// now holds because of it.
fn check_answer(case: &Case, got: &Got, p: &mut Problems) -> Vec<Want> {
    let who = case.who();
    if let Expect::Busy = case.expect {
        let error = &got.json()["error"];
        p.check(got.status == 409, || {
            format!("{who}: status {} (want 409): {}", got.status, got.body)
        });
        p.check(error["code"] == "turn_in_progress", || {
            format!("{who}: {error}")
        });
        p.check(error["retryable"] == true, || format!("{who}: {error}"));
        p.check(got.request_id, || format!("{who}: no x-request-id"));
        return vec![];
    }
    match case.via {
        Via::Plain => check_plain(case, got, &who, p),
        Via::Stream => check_stream(case, got, &who, p),
    }
}

fn check_plain(case: &Case, got: &Got, who: &str, p: &mut Problems) -> Vec<Want> {
    let body = got.json();
    match case.expect {
        Expect::Reply(finish) => {
            p.check(got.status == 201, || {
                format!("{who}: status {} (want 201): {}", got.status, got.body)
            });
            let (user, assistant) = (&body["user_message"], &body["assistant_message"]);
            p.check(user["content"] == case.content.as_str(), || {
                format!("{who}: user message {user}")
            });
            p.check(assistant["content"] == case.echo().as_str(), || {
                format!("{who}: reply {assistant}, want {:?}", case.echo())
            });
            p.check(assistant["finish_reason"] == finish, || {
                format!("{who}: finish reason (want {finish}): {assistant}")
            });
            vec![Want::Exact(user.clone()), Want::Exact(assistant.clone())]
        }
        Expect::Fail {
            status,
            code,
            retryable,
            retry_after,
            ..
        } => {
            let error = &body["error"];
            p.check(got.status == status, || {
                format!("{who}: status {} (want {status}): {}", got.status, got.body)
            });
            p.check(error["code"] == code, || {
                format!("{who}: code (want {code}): {error}")
            });
            p.check(error["retryable"] == retryable, || {
                format!("{who}: retryable (want {retryable}): {error}")
            });
            p.check(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                || format!("{who}: no message: {error}"),
            );
            p.check(got.request_id, || format!("{who}: no x-request-id"));
            p.check(got.retry_after.as_deref() == retry_after, || {
                format!(
                    "{who}: Retry-After {:?} (want {retry_after:?})",
                    got.retry_after
                )
            });
            vec![Want::User(case.content.clone())]
        }
        Expect::Partial(_) | Expect::Busy => unreachable!("{who}: not a plain send's expectation"),
    }
}

fn check_stream(case: &Case, got: &Got, who: &str, p: &mut Problems) -> Vec<Want> {
    p.check(got.status == 200, || {
        format!(
            "{who}: the stream did not open: {} {}",
            got.status, got.body
        )
    });
    p.check(got.content_type.starts_with("text/event-stream"), || {
        format!("{who}: content-type {:?}", got.content_type)
    });
    let events = if got.status == 200 {
        parse_sse(&got.body)
    } else {
        vec![]
    };
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        p.check(false, || format!("{who}: no events"));
        return vec![];
    };
    let names = names(&events);
    let text: String = deltas(&events).concat();
    p.check(names.len() >= 2 && names[0] == "message.created", || {
        format!("{who}: events {names:?}")
    });
    let middle = names.get(1..names.len() - 1).unwrap_or_default();
    p.check(middle.iter().all(|n| *n == "message.delta"), || {
        format!("{who}: events {names:?}")
    });
    for (i, event) in events.iter().enumerate() {
        p.check(event.data["type"] == event.name(), || {
            format!("{who}: event {i}'s type: {:?}", event.data)
        });
        p.check(event.data["sequence_number"] == i, || {
            format!("{who}: event {i}'s sequence_number: {:?}", event.data)
        });
    }
    let user = &first.data["user_message"];
    p.check(user["content"] == case.content.as_str(), || {
        format!("{who}: created {user}")
    });
    let echo = case.echo();
    p.check(echo.starts_with(&text), || {
        format!("{who}: streamed {text:?}, not a prefix of {echo:?}")
    });
    match case.expect {
        Expect::Reply(finish) | Expect::Partial(finish) => {
            let message = &last.data["message"];
            p.check(last.name() == "message.completed", || {
                format!("{who}: ended with {} {:?}", last.name(), last.data)
            });
            p.check(message["id"] == first.data["assistant_message_id"], || {
                format!("{who}: completed {message}, created {:?}", first.data)
            });
            p.check(message["content"] == text.as_str(), || {
                format!("{who}: completed {message} but streamed {text:?}")
            });
            p.check(message["finish_reason"] == finish, || {
                format!("{who}: finish reason (want {finish}): {message}")
            });
            if let Expect::Reply(_) = case.expect {
                p.check(text == echo, || {
                    format!("{who}: streamed {text:?}, want {echo:?}")
                });
            } else {
                p.check(!text.is_empty() && text.len() < echo.len(), || {
                    format!("{who}: {text:?} is not part of {echo:?}")
                });
            }
            vec![Want::Exact(user.clone()), Want::Exact(message.clone())]
        }
        Expect::Fail {
            code,
            retryable,
            text: want,
            ..
        } => {
            let error = &last.data["error"];
            p.check(last.name() == "error", || {
                format!("{who}: ended with {} {:?}", last.name(), last.data)
            });
            p.check(error["code"] == code, || {
                format!("{who}: code (want {code}): {error}")
            });
            p.check(error["retryable"] == retryable, || {
                format!("{who}: retryable (want {retryable}): {error}")
            });
            p.check(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                || format!("{who}: no message: {error}"),
            );
            let streamed_as_expected = match want {
                Text::None => text.is_empty(),
                Text::Some => !text.is_empty(),
                Text::Any => true,
            };
            p.check(streamed_as_expected, || {
                format!("{who}: streamed {text:?} before the error (want {want:?})")
            });
            vec![Want::Exact(user.clone())]
        }
        Expect::Busy => unreachable!("{who}: checked by the caller"),
    }
}

/// Checks a session's history: seqs 1..n, ids distinct, exactly `want`, and
/// `message_count` agreeing; returns it.
async fn check_history(
    app: &GeminiApp,
    session: &str,
    want: &[Want],
    p: &mut Problems,
) -> Vec<Value> {
    let history = app.history_of(session).await;
    let seqs: Vec<u64> = history.iter().filter_map(|m| m["seq"].as_u64()).collect();
    let expected: Vec<u64> = (1..=history.len() as u64).collect();
    p.check(seqs == expected, || format!("{session}: seqs {seqs:?}"));
    let ids: HashSet<&str> = history.iter().filter_map(|m| m["id"].as_str()).collect();
    p.check(ids.len() == history.len(), || {
        format!("{session}: repeated ids: {history:?}")
    });
    p.check(history.len() == want.len(), || {
        format!(
            "{session}: {} messages stored, want {}: {history:?}",
            history.len(),
            want.len()
        )
    });
    for (got, want) in history.iter().zip(want) {
        let ok = match want {
            Want::Exact(want) => got == want,
            Want::User(content) => {
                got["role"] == "user"
                    && got["content"] == content.as_str()
                    && got["finish_reason"].is_null()
            }
        };
        p.check(ok, || format!("{session}: stored {got}\n    want {want:?}"));
    }
    let session_body: Value = app
        .get(&format!("/api/chat/{session}"))
        .await
        .json()
        .await
        .unwrap_or_default();
    let count = &session_body["message_count"];
    p.check(*count == history.len(), || {
        format!("{session}: message_count {count}, {} stored", history.len())
    });
    history
}

/// Asks the store itself whether each session's turn lock is free (taking
/// and giving back a probe lock).
async fn check_locks_free(
    app: &GeminiApp,
    store: &Arc<dyn Store>,
    sessions: &[String],
    p: &mut Problems,
) {
    let me: Value = app
        .get("/api/auth/me")
        .await
        .json()
        .await
        .expect("/api/auth/me answers JSON");
    let owner = me["user"]["id"]
        .as_str()
        .and_then(|id| UserId::parse(id).ok())
        .expect("the test user's id");
    for session in sessions {
        let id = SessionId::parse(session).expect("a session id");
        let holder = format!("load-faults-probe-{session}");
        let free = store
            .try_lock_turn(&owner, &id, &holder, Duration::from_secs(5))
            .await;
        p.check(matches!(free, Ok(Some(_))), || {
            format!("{session}: the turn lock is held ({free:?})")
        });
        if let Ok(Some(_)) = free {
            store
                .unlock_turn(&id, &holder, None)
                .await
                .expect("unlock the probe");
        }
    }
}

/// `/healthz` and `/readyz` answer 200.
async fn check_probes(app: &GeminiApp, when: &str) {
    for probe in ["/healthz", "/readyz"] {
        let status = app.get(probe).await.status();
        assert_eq!(status, 200, "{probe} {when}");
    }
}

/// Checks the fake's log against each case's expected attempts: outcomes in
/// order, the right RPC, and no call nobody sent.
fn check_calls(calls: &[Value], cases: &[&Case], p: &mut Problems) {
    let mut by_tag: HashMap<&str, Vec<&Value>> = HashMap::new();
    for call in calls {
        let tag = call["knobs"]["tag"].as_str().unwrap_or("<untagged>");
        by_tag.entry(tag).or_default().push(call);
    }
    for case in cases {
        let seen = by_tag.remove(case.tag.as_str()).unwrap_or_default();
        let outcomes: Vec<&str> = seen
            .iter()
            .map(|c| c["outcome"].as_str().unwrap_or("<none>"))
            .collect();
        p.check(outcomes == case.attempts, || {
            format!(
                "{}: attempts {outcomes:?}, want {:?}",
                case.who(),
                case.attempts
            )
        });
        let rpc = match case.via {
            Via::Plain => "generateContent",
            Via::Stream => "streamGenerateContent",
        };
        p.check(seen.iter().all(|c| c["rpc"] == rpc), || {
            format!("{}: not all calls were {rpc}", case.who())
        });
    }
    p.check(by_tag.is_empty(), || {
        format!("calls nobody sent: {:?}", by_tag.keys().collect::<Vec<_>>())
    });
    let expected: usize = cases.iter().map(|c| c.attempts.len()).sum();
    p.check(calls.len() == expected, || {
        format!("{} model calls, want {expected}", calls.len())
    });
}

/// Two sends to one session: the lock holder, then the one that must bounce.
type Pair = (Arc<Case>, Arc<Case>);

/// The sends of the storm: one per session, cycling through every scenario,
/// and the pairs (a slow stream holding the lock, then a send that must
/// bounce) in the last `PAIRS` sessions.
fn storm(sessions: &[String]) -> (Vec<Arc<Case>>, Vec<Pair>) {
    let scenarios = scenarios();
    let singles = (0..SINGLES)
        .map(|i| {
            let scenario = &scenarios[i % scenarios.len()];
            Arc::new(Case::new(&sessions[i], format!("s{i:03}"), scenario))
        })
        .collect();
    // Five chunks a second apart: the lock is held for about four seconds
    // after `message.created`, within the 2 s idle and 8 s turn budgets.
    let holder = scenario(
        "pair-holder",
        Via::Stream,
        json!({"chunks": 5, "chunk_delay_ms": 1000}),
        Expect::Reply("stop"),
        "ok",
    );
    let pairs = (0..PAIRS)
        .map(|i| {
            let session = &sessions[SINGLES + i];
            let via = if i % 2 == 0 { Via::Plain } else { Via::Stream };
            let bounced = scenario("pair-bounced", via, json!({}), Expect::Busy, "");
            let first = Case::new(session, format!("p{i}a"), &holder);
            let second = Case::new(session, format!("p{i}b"), &bounced);
            (Arc::new(first), Arc::new(second))
        })
        .collect();
    (singles, pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sends_with_every_fault_get_their_status_and_lose_nothing() {
    // Arrange: a session per single send, one per pair.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let app = Arc::new(spawn_app_with_store(Arc::clone(&store)).await);
    let mut sessions = vec![app.session_id.clone()];
    while sessions.len() < SINGLES + PAIRS {
        sessions.push(app.start_session().await);
    }
    let (singles, pairs) = storm(&sessions);

    // Act: everything at once, with the probes in the middle of it.
    let mut tasks = JoinSet::new();
    for case in &singles {
        let (app, case) = (Arc::clone(&app), Arc::clone(case));
        tasks.spawn(async move {
            let got = fire(&app, &case).await;
            vec![(case, got)]
        });
    }
    for (first, second) in &pairs {
        let (app, first, second) = (Arc::clone(&app), Arc::clone(first), Arc::clone(second));
        tasks.spawn(async move {
            let (a, b) = fire_pair(&app, &first, &second).await;
            vec![(first, a), (second, b)]
        });
    }
    let probing = Arc::clone(&app);
    tasks.spawn(async move {
        check_probes(&probing, "during the storm").await;
        vec![]
    });
    let mut answers: Vec<(Arc<Case>, Got)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.extend(done.expect("a send task panicked"));
    }

    // Assert: every answer as the contract says.
    assert_eq!(answers.len(), SINGLES + 2 * PAIRS, "every send answered");
    let mut p = Problems::default();
    let mut want: HashMap<&str, Vec<Want>> = HashMap::new();
    for (case, got) in &answers {
        let stored = check_answer(case, got, &mut p);
        want.entry(case.session.as_str())
            .or_default()
            .extend(stored);
    }
    p.assert_none("answers");

    // Assert: the fake saw exactly the attempts the retry policy allows.
    let cases: Vec<&Case> = answers.iter().map(|(c, _)| c.as_ref()).collect();
    let mut p = Problems::default();
    check_calls(&app.fake.model_calls().await, &cases, &mut p);
    p.assert_none("model calls");

    // Assert: healthy, no lock held, every history exactly as answered.
    check_probes(&app, "after the storm").await;
    let mut p = Problems::default();
    check_locks_free(&app, &store, &sessions, &mut p).await;
    let mut histories = HashMap::new();
    let mut messages_checked = 0;
    for session in &sessions {
        let expected = want.remove(session.as_str()).unwrap_or_default();
        let history = check_history(&app, session, &expected, &mut p).await;
        messages_checked += history.len();
        histories.insert(session.clone(), history);
    }
    p.assert_none("histories after the storm");

    // Act: a fault-free turn in every session, all at once.
    let storm_stats = app.fake.stats().await;
    app.fake.reset().await;
    let mut tasks = JoinSet::new();
    for (i, session) in sessions.iter().enumerate() {
        let via = if i % 2 == 0 { Via::Plain } else { Via::Stream };
        let case = Case::next_turn(session, format!("t{i:03}"), via, histories[session].len());
        let app = Arc::clone(&app);
        tasks.spawn(async move {
            let got = fire(&app, &case).await;
            (case, got)
        });
    }
    let mut next_turns = Vec::new();
    while let Some(done) = tasks.join_next().await {
        next_turns.push(done.expect("a next-turn task panicked"));
    }

    // Assert: each answered with the whole history as context, stored once.
    let mut p = Problems::default();
    for (case, got) in &next_turns {
        let mut expected: Vec<Want> = histories[&case.session]
            .iter()
            .cloned()
            .map(Want::Exact)
            .collect();
        expected.extend(check_answer(case, got, &mut p));
        let history = check_history(&app, &case.session, &expected, &mut p).await;
        messages_checked += history.len();
    }
    let calls = app.fake.model_calls().await;
    let asked: HashSet<String> = calls
        .iter()
        .filter_map(|c| c["contents"].as_array()?.last()?["parts"][0]["text"].as_str())
        .map(str::to_owned)
        .collect();
    let sent: HashSet<String> = next_turns.iter().map(|(c, _)| c.content.clone()).collect();
    p.check(calls.len() == sessions.len() && asked == sent, || {
        format!(
            "{} next-turn calls for {} sessions",
            calls.len(),
            sessions.len()
        )
    });
    p.check(calls.iter().all(|c| c["outcome"] == "ok"), || {
        "a next-turn call failed at the fake".into()
    });
    check_locks_free(&app, &store, &sessions, &mut p).await;
    p.assert_none("next turns");
    check_probes(&app, "at the end").await;

    let mut faults: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &cases {
        *faults.entry(case.fault.as_str()).or_default() += 1;
    }
    eprintln!(
        "load_faults: {} sends in the storm, {} next turns, {} sessions; faults {faults:?}; \
         {messages_checked} stored messages checked; fake-gemini during the storm {storm_stats}",
        answers.len(),
        next_turns.len(),
        sessions.len(),
    );
}
