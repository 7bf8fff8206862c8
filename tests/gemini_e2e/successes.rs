//! Knobs that end in a reply: transient failures retried away, latency,
//! chunking, `MAX_TOKENS` (with and without text) and thinking tokens.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{deltas, names, spawn_app, spawn_app_with_agent, with_knobs, SYSTEM_PROMPT};

#[tokio::test]
async fn two_429s_then_success_is_a_201_on_the_third_attempt() {
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs("hello", json!({"fail": "429", "fail_first_n": 2}));

    // Act
    let turn = app.send_ok(&content).await;

    // Assert
    assert_eq!(app.outcomes().await, ["429", "429", "ok"], "three attempts");
    let reply = &turn["assistant_message"];
    assert_eq!(reply["content"], "echo: hello [contents=1; system=yes]");
    assert_eq!(reply["finish_reason"], "stop");
    let history = app.history().await;
    assert_eq!(
        history,
        [turn["user_message"].clone(), reply.clone()],
        "each message stored once"
    );
}

#[tokio::test]
async fn a_slow_first_byte_within_the_timeout_is_a_201() {
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs("take your time", json!({"delay_ms": 300}));
    let started = Instant::now();

    // Act
    let turn = app.send_ok(&content).await;

    // Assert
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the delay was real"
    );
    assert_eq!(turn["assistant_message"]["finish_reason"], "stop");
    assert_eq!(app.outcomes().await, ["ok"]);
}

#[tokio::test]
async fn a_reply_streamed_in_eight_chunks_arrives_as_seven_deltas_equal_to_the_stored_message() {
    // Arrange
    let app = spawn_app().await;
    let content = with_knobs("tell me a story in pieces", json!({"chunks": 8}));

    // Act
    let events = app.stream(&content).await;

    // Assert
    let names = names(&events);
    assert_eq!(names.first(), Some(&"message.created"));
    assert_eq!(names.last(), Some(&"message.completed"), "{names:?}");
    let pieces = deltas(&events);
    assert!(
        pieces.len() >= 7,
        "7 text chunks, the 8th only finishes: {pieces:?}"
    );
    let message = &events[events.len() - 1].data["message"];
    assert_eq!(message["content"], pieces.concat().as_str());
    assert_eq!(
        message["content"],
        "echo: tell me a story in pieces [contents=1; system=yes]"
    );
    assert_eq!(message["finish_reason"], "stop");
    let history = app.history().await;
    assert_eq!(
        history[1]["content"],
        pieces.concat().as_str(),
        "the stored text is the streamed text"
    );
}

#[tokio::test]
async fn a_max_tokens_finish_reason_is_reported_as_max_tokens() {
    let app = spawn_app().await;
    let turn = app
        .send_ok(&with_knobs("hi", json!({"finish_reason": "MAX_TOKENS"})))
        .await;
    assert_eq!(turn["assistant_message"]["finish_reason"], "max_tokens");
    assert_eq!(
        turn["assistant_message"]["content"],
        "echo: hi [contents=1; system=yes]"
    );
}

#[tokio::test]
async fn an_unknown_finish_reason_is_reported_as_other() {
    let app = spawn_app().await;
    let turn = app
        .send_ok(&with_knobs("hi", json!({"finish_reason": "SOMETHING_NEW"})))
        .await;
    assert_eq!(turn["assistant_message"]["finish_reason"], "other");
}

#[tokio::test]
async fn an_agents_small_max_output_tokens_truncates_the_reply_with_max_tokens() {
    // Arrange: no thinking to speak of (Gemini 3 bills thinking against the
    // output cap; the next test covers that).
    let agent = json!({"name": "Terse", "system_prompt": SYSTEM_PROMPT, "max_output_tokens": 3,
                       "model": "gemini-3.5-flash-lite", "reasoning_effort": "minimal"});
    let app = spawn_app_with_agent(agent).await;

    // Act
    let turn = app
        .send_ok("please write a long answer about many things")
        .await;

    // Assert
    let reply = &turn["assistant_message"];
    assert_eq!(reply["finish_reason"], "max_tokens");
    let text = reply["content"].as_str().expect("content");
    assert!(
        !text.is_empty() && text.len() <= 12,
        "cut to 3 tokens (~12 chars): {text:?}"
    );
    let calls = app.fake.model_calls().await;
    assert_eq!(calls[0]["generationConfig"]["maxOutputTokens"], 3);
}

#[tokio::test]
async fn thinking_that_spends_the_whole_output_cap_is_stored_as_an_empty_max_tokens_reply() {
    // Arrange: Gemini 3.8 Flash thinks even at `low`, and thinking tokens
    // count against `maxOutputTokens`.
    let agent = json!({"name": "Tiny", "system_prompt": SYSTEM_PROMPT, "max_output_tokens": 3});
    let app = spawn_app_with_agent(agent).await;

    // Act
    let turn = app.send_ok("please answer").await;
    let next = app.send_ok("and now?").await;

    // Assert
    let reply = &turn["assistant_message"];
    assert_eq!(
        (&reply["content"], &reply["finish_reason"]),
        (&json!(""), &json!("max_tokens"))
    );
    assert!(
        reply["usage"]["thoughts_tokens"].as_u64().unwrap_or(0) > 0,
        "{reply}"
    );
    assert_eq!(next["assistant_message"]["finish_reason"], "max_tokens");
    let calls = app.fake.model_calls().await;
    assert_eq!(
        calls[1]["contents"],
        json!([{"role": "user", "parts": [{"text": "please answer"}]},
               {"role": "user", "parts": [{"text": "and now?"}]}]),
        "the empty reply is left out of the next request"
    );
}

#[tokio::test]
async fn thinking_tokens_are_reported_in_usage_for_sent_and_streamed_replies() {
    // Arrange
    let app = spawn_app().await;
    let knobs = json!({"thoughts_tokens": 40});

    // Act
    let turn = app.send_ok(&with_knobs("think first", knobs.clone())).await;
    let events = app.stream(&with_knobs("think again", knobs)).await;

    // Assert
    let streamed = &events[events.len() - 1].data["message"];
    for (case, message) in [("send", &turn["assistant_message"]), ("stream", streamed)] {
        let usage = &message["usage"];
        assert_eq!(usage["thoughts_tokens"], 40, "{case}: {usage}");
        let sum = ["prompt_tokens", "completion_tokens", "thoughts_tokens"]
            .iter()
            .map(|k| {
                usage[*k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{case}: {k} in {usage}"))
            })
            .sum::<u64>();
        assert_eq!(
            usage["total_tokens"], sum,
            "{case}: the total includes thinking"
        );
        assert_eq!(message["finish_reason"], "stop", "{case}");
    }
}

#[tokio::test]
async fn a_max_tokens_finish_with_no_text_is_stored_empty_and_left_out_of_the_next_request() {
    // Arrange: thinking uses up the whole output budget.
    let agent = json!({"name": "Thinker", "system_prompt": SYSTEM_PROMPT, "max_output_tokens": 8});
    let app = spawn_app_with_agent(agent).await;
    let first = with_knobs("ponder", json!({"thoughts_tokens": 50}));

    // Act
    let turn = app.send_ok(&first).await;
    let next = app.send_ok("and now?").await;

    // Assert
    let empty = &turn["assistant_message"];
    assert_eq!(empty["content"], "");
    assert_eq!(empty["finish_reason"], "max_tokens");
    assert_eq!(empty["usage"]["thoughts_tokens"], 50);
    assert_eq!(next["assistant_message"]["role"], "assistant");
    let calls = app.fake.model_calls().await;
    assert_eq!(calls.len(), 2, "one call per turn");
    assert_eq!(
        calls[1]["outcome"], "ok",
        "the fake accepted the request: {}",
        calls[1]
    );
    let contents = calls[1]["contents"].as_array().expect("contents");
    let parts: Vec<&Value> = contents
        .iter()
        .flat_map(|c| c["parts"].as_array().expect("parts"))
        .collect();
    assert!(
        parts
            .iter()
            .all(|p| p["text"].as_str().is_some_and(|t| !t.is_empty())),
        "no empty part: {contents:?}"
    );
    let texts: Vec<&Value> = parts.iter().map(|p| &p["text"]).collect();
    assert_eq!(
        texts,
        [&json!(first), &json!("and now?")],
        "the empty reply is left out"
    );
}

#[tokio::test]
async fn a_streamed_max_tokens_finish_with_no_text_completes_with_an_empty_message() {
    // Arrange
    let agent = json!({"name": "Thinker", "system_prompt": SYSTEM_PROMPT, "max_output_tokens": 8});
    let app = spawn_app_with_agent(agent).await;

    // Act
    let events = app
        .stream(&with_knobs("ponder", json!({"thoughts_tokens": 50})))
        .await;

    // Assert
    assert_eq!(names(&events), ["message.created", "message.completed"]);
    let message = &events[1].data["message"];
    assert_eq!(message["content"], "");
    assert_eq!(message["finish_reason"], "max_tokens");
    assert_eq!(message["usage"]["thoughts_tokens"], 50);
}
