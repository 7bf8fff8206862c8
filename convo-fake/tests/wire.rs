//! The fake over the wire, read with a raw TCP client: what each fault
//! looks like on the connection (status, body, clean end or reset), and
//! the Gemini and OpenAI answers' shapes.

use std::io::ErrorKind;

use convo_fake::{FakeModel, Options};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a raw client saw: the bytes read, and how the connection ended.
struct Seen {
    bytes: Vec<u8>,
    /// `None`: a clean end (FIN); `Some(kind)`: a read error.
    ended_by: Option<ErrorKind>,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> u16 {
        self.text()
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The body after the headers (chunked framing left in).
    fn body(&self) -> String {
        let text = self.text();
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// The JSON of the `data:` events of an SSE body.
    fn events(&self) -> Vec<Value> {
        self.body()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    }
}

/// Sends one `Connection: close` POST and reads until the connection ends.
async fn post(fake: &FakeModel, path: &str, headers: &[(&str, &str)], body: &Value) -> Seen {
    let mut stream = TcpStream::connect(fake.local_addr())
        .await
        .expect("connects");
    let body = body.to_string();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: fake\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => {
                return Seen {
                    bytes,
                    ended_by: None,
                }
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Seen {
                    bytes,
                    ended_by: Some(e.kind()),
                }
            }
        }
    }
}

const KEY: (&str, &str) = ("x-goog-api-key", "test-key");
const GENERATE: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there, fake model"}]}]})
}

async fn fake() -> FakeModel {
    FakeModel::start(Options::default()).await.expect("starts")
}

/// A Gemini request with knobs in the header.
async fn with_knobs(fake: &FakeModel, path: &str, knobs: Value) -> Seen {
    let knobs = knobs.to_string();
    post(fake, path, &[KEY, ("x-fake-gemini", &knobs)], &hello()).await
}

#[tokio::test]
async fn a_plain_answer_echoes_thinks_and_signs() {
    let fake = fake().await;
    let seen = post(&fake, GENERATE, &[KEY], &hello()).await;
    assert_eq!(seen.status(), 200, "{}", seen.text());
    let body: Value = serde_json::from_str(&seen.body()).expect("JSON");
    let part = &body["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["text"],
        "echo: hello there, fake model [contents=1; system=no]"
    );
    assert!(part["thoughtSignature"].is_string(), "{body}");
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        body["usageMetadata"]["thoughtsTokenCount"], 96,
        "3.8 Flash thinks at MEDIUM"
    );
    assert_eq!(body["modelVersion"], "gemini-3.8-flash");
    assert_eq!(fake.requests()[0]["outcome"], "ok");
}

#[tokio::test]
async fn a_signature_goes_back_and_is_accepted_but_a_made_up_one_is_refused() {
    let fake = fake().await;
    let first: Value =
        serde_json::from_str(&post(&fake, GENERATE, &[KEY], &hello()).await.body()).expect("JSON");
    let answer = first["candidates"][0]["content"].clone();
    let next = |model_turn: Value| json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, model_turn, {"role": "user", "parts": [{"text": "b"}]}]});
    assert_eq!(
        post(&fake, GENERATE, &[KEY], &next(answer)).await.status(),
        200
    );
    let forged = json!({"role": "model", "parts": [{"text": "x", "thoughtSignature": "AAAAAAAA"}]});
    let seen = post(&fake, GENERATE, &[KEY], &next(forged)).await;
    assert_eq!(seen.status(), 400);
    assert!(
        seen.body().contains("Corrupted thought signature."),
        "{}",
        seen.body()
    );
}

#[tokio::test]
async fn a_stream_carries_usage_on_every_chunk_and_ends_with_an_empty_signed_part() {
    let fake = fake().await;
    let seen = with_knobs(&fake, STREAM, json!({"chunks": 4})).await;
    assert!(seen.text().contains("text/event-stream"), "{}", seen.text());
    let events = seen.events();
    assert_eq!(events.len(), 4);
    assert!(events
        .iter()
        .all(|e| e["usageMetadata"]["promptTokenCount"].is_u64()));
    let last = &events[3]["candidates"][0];
    assert_eq!(last["finishReason"], "STOP");
    assert_eq!(last["content"]["parts"][0]["text"], "");
    assert!(last["content"]["parts"][0]["thoughtSignature"].is_string());
    assert!(events[..3]
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));
}

#[tokio::test]
async fn retired_and_unknown_models_get_the_real_404s_on_generate_and_count_tokens() {
    let fake = fake().await;
    for rpc in ["generateContent", "countTokens"] {
        let seen = post(
            &fake,
            &format!("/v1beta/models/gemini-2.5-flash:{rpc}"),
            &[KEY],
            &hello(),
        )
        .await;
        assert_eq!(seen.status(), 404);
        assert!(
            seen.body().contains("is no longer available to new users"),
            "{}",
            seen.body()
        );
        let seen = post(
            &fake,
            &format!("/v1beta/models/gemini-9-ultra:{rpc}"),
            &[KEY],
            &hello(),
        )
        .await;
        assert_eq!(seen.status(), 404);
        assert!(
            seen.body().contains("is not found for API version v1beta"),
            "{}",
            seen.body()
        );
    }
    let counted = post(
        &fake,
        "/v1beta/models/gemini-3.8-flash:countTokens",
        &[KEY],
        &hello(),
    )
    .await;
    assert_eq!(counted.status(), 200);
    assert!(
        counted.body().contains("\"totalTokens\":6"),
        "{}",
        counted.body()
    );
}

#[tokio::test]
async fn no_key_is_a_403_and_an_invalid_request_a_400() {
    let fake = fake().await;
    assert_eq!(post(&fake, GENERATE, &[], &hello()).await.status(), 403);
    let empty = json!({"contents": [{"role": "user", "parts": [{"text": ""}]}]});
    let seen = post(&fake, GENERATE, &[KEY], &empty).await;
    assert_eq!(seen.status(), 400);
    assert!(seen.body().contains("required oneof field 'data'"));
}

#[tokio::test]
async fn a_429_carries_retry_info_with_the_asked_delay() {
    let fake = fake().await;
    let seen = with_knobs(
        &fake,
        GENERATE,
        json!({"fail": "429", "retry_delay": "37s"}),
    )
    .await;
    assert_eq!(seen.status(), 429);
    let body: Value = serde_json::from_str(&seen.body()).expect("JSON");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let retry = body["error"]["details"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        })
        .expect("RetryInfo");
    assert_eq!(retry["retryDelay"], "37s");
    let seen = with_knobs(&fake, GENERATE, json!({"fail": "429_no_retry_info"})).await;
    assert!(!seen.body().contains("RetryInfo"));
}

#[tokio::test]
async fn fail_first_n_fails_then_answers_per_scenario() {
    let fake = fake().await;
    let knobs = json!({"fail": "500", "fail_first_n": 1, "tag": "a"});
    assert_eq!(
        with_knobs(&fake, GENERATE, knobs.clone()).await.status(),
        500
    );
    assert_eq!(with_knobs(&fake, GENERATE, knobs).await.status(), 200);
    let other = json!({"fail": "500", "fail_first_n": 1, "tag": "b"});
    assert_eq!(
        with_knobs(&fake, GENERATE, other).await.status(),
        500,
        "a counter of its own"
    );
}

#[tokio::test]
async fn a_reset_ends_the_connection_with_an_rst_before_any_byte() {
    let fake = fake().await;
    let seen = with_knobs(&fake, GENERATE, json!({"fail": "reset"})).await;
    assert!(seen.bytes.is_empty(), "{}", seen.text());
    assert_eq!(seen.ended_by, Some(ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn a_cut_stream_ends_cleanly_without_a_finish_reason() {
    let fake = fake().await;
    let seen = with_knobs(&fake, STREAM, json!({"fail": "cut_stream", "chunks": 6})).await;
    assert_eq!(seen.status(), 200);
    assert_eq!(seen.ended_by, None);
    let events = seen.events();
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));
}

#[tokio::test]
async fn a_cut_stream_reset_ends_with_an_rst_after_some_chunks() {
    let fake = fake().await;
    let seen = with_knobs(
        &fake,
        STREAM,
        json!({"fail": "cut_stream_reset", "chunks": 6}),
    )
    .await;
    assert_eq!(
        seen.ended_by,
        Some(ErrorKind::ConnectionReset),
        "{}",
        seen.text()
    );
}

#[tokio::test]
async fn a_unary_cut_body_is_shorter_than_its_content_length() {
    let fake = fake().await;
    let seen = with_knobs(&fake, GENERATE, json!({"fail": "cut_stream"})).await;
    assert_eq!(seen.status(), 200);
    let length: usize = seen
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Content-Length");
    assert!(
        seen.body().len() < length,
        "{} of {length}",
        seen.body().len()
    );
}

#[tokio::test]
async fn a_stream_error_is_a_bare_error_object_inside_a_200_stream() {
    let fake = fake().await;
    let seen = with_knobs(&fake, STREAM, json!({"fail": "stream_error", "chunks": 6})).await;
    assert_eq!(seen.status(), 200);
    assert!(
        seen.body().contains("\"status\": \"UNAVAILABLE\""),
        "pretty-printed, no data: {}",
        seen.body()
    );
    let framed = with_knobs(
        &fake,
        STREAM,
        json!({"fail": "stream_error", "error_framing": "data", "chunks": 6}),
    )
    .await;
    assert!(framed.events().iter().any(|e| e["error"]["code"] == 503));
}

#[tokio::test]
async fn malformed_blocked_and_safety_stop_answer_200_with_the_real_shapes() {
    let fake = fake().await;
    let seen = with_knobs(&fake, GENERATE, json!({"fail": "malformed"})).await;
    assert_eq!(seen.status(), 200);
    assert!(serde_json::from_str::<Value>(&seen.body()).is_err());
    let blocked: Value = serde_json::from_str(
        &with_knobs(&fake, GENERATE, json!({"fail": "blocked"}))
            .await
            .body(),
    )
    .expect("JSON");
    assert_eq!(blocked["promptFeedback"]["blockReason"], "SAFETY");
    assert!(blocked.get("candidates").is_none());
    let stopped: Value = serde_json::from_str(
        &with_knobs(&fake, GENERATE, json!({"fail": "safety_stop"}))
            .await
            .body(),
    )
    .expect("JSON");
    assert_eq!(stopped["candidates"][0]["finishReason"], "SAFETY");
    assert!(stopped["candidates"][0].get("content").is_none());
}

#[tokio::test]
async fn a_timeout_never_answers() {
    let fake = fake().await;
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        with_knobs(&fake, GENERATE, json!({"fail": "timeout"})),
    )
    .await;
    assert!(waited.is_err(), "no answer");
    assert_eq!(fake.requests()[0]["outcome"], "timeout");
}

#[tokio::test]
async fn the_in_text_directive_chooses_the_fault_and_is_left_out_of_the_echo() {
    let fake = fake().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi [[fake-gemini:{\"fail\":\"503\"}]]"}]}]});
    assert_eq!(post(&fake, GENERATE, &[KEY], &body).await.status(), 503);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi [[convo-fake:{\"reply\":\"fixed\"}]]"}]}]});
    let answer: Value =
        serde_json::from_str(&post(&fake, GENERATE, &[KEY], &body).await.body()).expect("JSON");
    assert_eq!(
        answer["candidates"][0]["content"]["parts"][0]["text"],
        "fixed"
    );
    let log = fake.requests();
    assert_eq!(log[0]["knobs"]["fail"], "503");
    assert_eq!(
        (log[0]["key"].as_str(), log[0]["key_source"].as_str()),
        (Some("test-key"), Some("header"))
    );
}

const CHAT: &str = "/v1/chat/completions";
const BEARER: (&str, &str) = ("authorization", "Bearer sk-test");

#[tokio::test]
async fn openai_answers_plain_and_streamed_with_usage() {
    let fake = fake().await;
    let request = json!({"model": "gpt-5.1-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]});
    let seen = post(&fake, CHAT, &[BEARER], &request).await;
    assert_eq!(seen.status(), 200, "{}", seen.text());
    let body: Value = serde_json::from_str(&seen.body()).expect("JSON");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello [messages=2]"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"]
        .as_u64()
        .is_some_and(|n| n > 0));

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let seen = post(&fake, CHAT, &[BEARER], &streamed).await;
    assert!(seen.body().contains("data: [DONE]"), "{}", seen.body());
    let events = seen.events();
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello [messages=2]");
    assert!(events[..events.len() - 1]
        .iter()
        .all(|e| e["usage"].is_null() && e.get("usage").is_some()));
    let last = events.last().expect("a usage chunk");
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["prompt_tokens"].is_u64());
}

#[tokio::test]
async fn openai_streams_tool_calls_as_argument_deltas() {
    let fake = fake().await;
    let request = json!({
        "model": "gpt-5.1", "stream": true,
        "messages": [{"role": "user", "content": "weather? [[fake-gemini:{\"function_calls\":[{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}]}]]"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    });
    let events = post(&fake, CHAT, &[BEARER], &request).await.events();
    let deltas: Vec<&Value> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(deltas[0]["function"]["name"], "get_weather");
    assert!(deltas[0]["id"].is_string());
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).expect("JSON"),
        json!({"city": "Paris"})
    );
    assert!(deltas.len() > 2, "arguments in pieces");
    let finish = events
        .iter()
        .find_map(|e| e["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}

#[tokio::test]
async fn openai_429_has_retry_after_and_no_key_is_a_401() {
    let fake = fake().await;
    let request = json!({"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi [[fake-gemini:{\"fail\":\"429\",\"retry_delay\":\"2.5s\"}]]"}]});
    let seen = post(&fake, CHAT, &[BEARER], &request).await;
    assert_eq!(seen.status(), 429);
    assert!(
        seen.text().to_lowercase().contains("retry-after: 3\r\n"),
        "{}",
        seen.text()
    );
    assert!(seen.body().contains("rate_limit_exceeded"));
    assert_eq!(post(&fake, CHAT, &[], &request).await.status(), 401);
    let models = post(&fake, "/v1/models", &[BEARER], &json!({})).await;
    assert_eq!(models.status(), 405, "GET only");
}

#[tokio::test]
async fn openai_filters_a_safety_stop_and_refuses_an_unknown_role() {
    let fake = fake().await;
    let request = json!({"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi [[fake-gemini:{\"fail\":\"safety_stop\"}]]"}]});
    let body: Value =
        serde_json::from_str(&post(&fake, CHAT, &[BEARER], &request).await.body()).expect("JSON");
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(body["choices"][0]["message"]["content"], "");
    assert_eq!(fake.requests()[0]["outcome"], "safety_stop");
    let bad = json!({"model": "gpt-5.1", "messages": [{"role": "wizard", "content": "hi"}]});
    let seen = post(&fake, CHAT, &[BEARER], &bad).await;
    assert_eq!(seen.status(), 400);
    assert!(seen.body().contains("invalid_value"), "{}", seen.body());
}

#[tokio::test]
async fn a_scripted_function_call_round_trips_with_its_signature_and_fails_without_it() {
    let fake = fake().await;
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]);
    let ask = json!({"role": "user", "parts": [{"text": "weather? [[fake-gemini:{\"function_calls\":[{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}]}]]"}]});
    let first: Value = serde_json::from_str(
        &post(
            &fake,
            GENERATE,
            &[KEY],
            &json!({"contents": [ask], "tools": tools}),
        )
        .await
        .body(),
    )
    .expect("JSON");
    let call_turn = first["candidates"][0]["content"].clone();
    assert_eq!(
        call_turn["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
    assert!(call_turn["parts"][0]["thoughtSignature"].is_string());
    let answer = json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]});

    let second = post(
        &fake,
        GENERATE,
        &[KEY],
        &json!({"contents": [ask, call_turn, answer], "tools": tools}),
    )
    .await;
    let body: Value = serde_json::from_str(&second.body()).expect("JSON");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "function results: get_weather={\"temp\":21} [contents=3; system=no]"
    );

    let mut unsigned = call_turn.clone();
    if let Some(part) = unsigned["parts"][0].as_object_mut() {
        part.remove("thoughtSignature");
    }
    let refused = post(
        &fake,
        GENERATE,
        &[KEY],
        &json!({"contents": [ask, unsigned, answer], "tools": tools}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused.body().contains("missing a thought_signature"),
        "{}",
        refused.body()
    );
}

#[tokio::test]
async fn a_delay_past_x_server_timeout_is_a_504_at_the_deadline() {
    let fake = fake().await;
    let knobs = json!({"delay_ms": 60_000}).to_string();
    let seen = post(
        &fake,
        GENERATE,
        &[KEY, ("x-fake-gemini", &knobs), ("x-server-timeout", "0.05")],
        &hello(),
    )
    .await;
    assert_eq!(seen.status(), 504);
    assert!(seen.body().contains("DEADLINE_EXCEEDED"));
    assert_eq!(fake.requests()[0]["outcome"], "deadline_exceeded");
}

#[tokio::test]
async fn the_test_endpoints_report_reset_and_configure() {
    let fake = fake().await;
    post(&fake, GENERATE, &[KEY], &hello()).await;
    let stats = post(&fake, "/__config", &[], &json!({"fail": "503"})).await;
    assert_eq!(stats.status(), 200);
    assert_eq!(
        post(&fake, GENERATE, &[KEY], &hello()).await.status(),
        503,
        "server-wide knobs apply"
    );
    assert_eq!(fake.stats()["total"], 2);
    assert_eq!(fake.stats()["by_status"]["503"], 1);
    assert_eq!(
        post(&fake, "/__reset?config=1", &[], &json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(fake.requests().len(), 0);
    assert_eq!(
        post(&fake, GENERATE, &[KEY], &hello()).await.status(),
        200,
        "config cleared"
    );
}

#[tokio::test]
async fn a_stream_without_alt_sse_is_one_json_array_of_the_same_chunks() {
    let fake = fake().await;
    let path = "/v1beta/models/gemini-3.8-flash:streamGenerateContent";
    let seen = with_knobs(&fake, path, json!({"chunks": 3})).await;
    assert_eq!(seen.status(), 200);
    // The body is chunked: keep what lies between the array's brackets.
    let body = seen.body();
    let (start, end) = (body.find('[').expect("["), body.rfind(']').expect("]"));
    let chunked: String = body[start..=end]
        .split("\r\n")
        .filter(|line| !line.chars().all(|c| c.is_ascii_hexdigit()))
        .collect::<Vec<_>>()
        .join("\r\n");
    let array: Value = serde_json::from_str(&chunked).unwrap_or_else(|e| panic!("{e}: {chunked}"));
    let chunks = array.as_array().expect("an array");
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn openai_tool_results_must_answer_the_calls_before_them() {
    let fake = fake().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let ask = json!({"role": "user", "content": "weather? [[convo-fake:{\"function_calls\":[{\"id\":\"call_1\",\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}]}]]"});
    let first: Value = serde_json::from_str(
        &post(
            &fake,
            CHAT,
            &[BEARER],
            &json!({"model": "gpt-5.1", "messages": [ask], "tools": tools}),
        )
        .await
        .body(),
    )
    .expect("JSON");
    let calls = first["choices"][0]["message"].clone();
    assert_eq!(calls["tool_calls"][0]["id"], "call_1");
    let answer = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "{\"temp\":21}"});

    let answered = post(
        &fake,
        CHAT,
        &[BEARER],
        &json!({"model": "gpt-5.1", "messages": [ask, calls, answer("call_1")], "tools": tools}),
    )
    .await;
    let wrong_id = post(
        &fake,
        CHAT,
        &[BEARER],
        &json!({"model": "gpt-5.1", "messages": [ask, calls, answer("call_2")], "tools": tools}),
    )
    .await;
    let no_call = post(
        &fake,
        CHAT,
        &[BEARER],
        &json!({"model": "gpt-5.1", "messages": [ask, answer("call_1")], "tools": tools}),
    )
    .await;

    let body: Value = serde_json::from_str(&answered.body()).expect("JSON");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "tool results: {\"temp\":21} [messages=3]"
    );
    assert_eq!(wrong_id.status(), 400);
    assert!(
        wrong_id.body().contains("'call_2' not found"),
        "{}",
        wrong_id.body()
    );
    assert_eq!(no_call.status(), 400);
    assert!(
        no_call
            .body()
            .contains("must be a response to a preceeding message with 'tool_calls'"),
        "{}",
        no_call.body()
    );
}

#[tokio::test]
async fn gemini_function_responses_must_answer_the_call_turn_before_them() {
    let fake = fake().await;
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}]);
    let ask = json!({"role": "user", "parts": [{"text": "weather?"}]});
    let answer = json!({"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "get_weather", "response": {"temp": 21}}}]});

    let refused = post(
        &fake,
        GENERATE,
        &[KEY],
        &json!({"contents": [ask, answer], "tools": tools}),
    )
    .await;

    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .body()
            .contains("function response turn comes immediately after a function call turn"),
        "{}",
        refused.body()
    );
}

#[tokio::test]
async fn the_webhook_receiver_answers_json_at_once_and_logs_nothing() {
    let fake = fake().await;

    let seen = post(&fake, "/__webhook", &[], &json!({"type": "tool_call"})).await;

    assert_eq!(seen.status(), 200, "{}", seen.text());
    let body: Value = serde_json::from_str(seen.body().trim()).expect("JSON body");
    assert_eq!(body, json!({"ok": true}));
    assert!(fake.requests().is_empty(), "not a model request");
}
