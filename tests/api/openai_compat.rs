//! `/v1`: agents behind OpenAI's API (models, chat completions, streaming,
//! `x-convo-session`, errors in OpenAI's shape), and `openai:` agents whose
//! provider is another Convo server's `/v1`.

use convo::server::{Application, Config};
use serde_json::{json, Value};

use crate::helpers::{
    json_with_status, plain_client, serve, spawn_app, test_config, RunningServer, TestApp,
    TestUser, JWT_SECRET,
};

/// `POST /v1/chat/completions` with a bearer token and optional session header.
async fn completion(
    app: &TestApp,
    token: &str,
    body: &Value,
    session: Option<&str>,
) -> reqwest::Response {
    let mut req = plain_client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(body);
    if let Some(session) = session {
        req = req.header("x-convo-session", session);
    }
    req.send().await.expect("request sent")
}

/// Checks OpenAI's error shape and returns the `error` object.
async fn assert_openai_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    let body = json_with_status(resp, status).await;
    let error = &body["error"];
    assert_eq!(error["type"], kind, "type in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error.clone()
}

/// The `data:` payloads of an SSE body, in order (`[DONE]` kept as a string).
fn sse_data(body: &str) -> Vec<String> {
    body.replace("\r\n", "\n")
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().to_owned())
        .collect()
}

fn user_message(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test]
async fn models_list_the_callers_agents_and_only_theirs() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let mine = app.fixture(&app.client).await;
    let other = app.other_user().await;
    let theirs = app.fixture(&other.client).await;

    // Act
    let list = plain_client()
        .get(app.url("/v1/models"))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("sent");
    let one = plain_client()
        .get(app.url(&format!("/v1/models/{}", mine.agent_id())))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("sent");
    let foreign = plain_client()
        .get(app.url(&format!("/v1/models/{}", theirs.agent_id())))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("sent");

    // Assert
    let list = json_with_status(list, 200).await;
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["id"], mine.agent_id());
    assert_eq!(data[0]["object"], "model");
    assert_eq!(data[0]["owned_by"], mine.project_id());
    assert!(data[0]["created"]
        .as_i64()
        .is_some_and(|t| t > 1_700_000_000));
    assert_eq!(json_with_status(one, 200).await["id"], mine.agent_id());
    let error = assert_openai_error(foreign, 404, "invalid_request_error").await;
    assert_eq!(error["code"], "model_not_found");
}

#[tokio::test]
async fn a_completion_puts_the_agents_prompt_first_applies_overrides_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let body = json!({
        "model": fx.agent_id(),
        "messages": [
            {"role": "system", "content": "Answer in French."},
            user_message("hi"),
            {"role": "assistant", "content": "hello"},
            user_message("how are you"),
        ],
        "temperature": 0.7,
        "max_tokens": 50,
        "reasoning_effort": "high",
    });

    // Act
    let resp = completion(&app, &user.token, &body, None).await;

    // Assert
    let reply = json_with_status(resp, 200).await;
    assert_eq!(reply["object"], "chat.completion");
    assert!(
        reply["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-")),
        "{reply}"
    );
    assert!(reply["created"].as_i64().is_some());
    assert_eq!(reply["model"], fx.agent_id());
    let choice = &reply["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: how are you");
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &reply["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap_or(0)
                + usage["completion_tokens"].as_u64().unwrap_or(0)
        )
    );
    let sent = app.mock.requests().pop().expect("the model was called");
    assert_eq!(sent.system_prompt, "Be brief.\n\nAnswer in French.");
    let texts: Vec<_> = sent.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["hi", "hello", "how are you"]);
    assert_eq!(sent.temperature, Some(0.7));
    assert_eq!(sent.max_output_tokens, Some(50));
    assert_eq!(
        sent.reasoning_effort,
        Some(convo_core::ReasoningEffort::High),
        "the override wins over the agent's low"
    );
    assert_eq!(sent.model, fx.agent["model"].as_str().expect("model"));
    assert!(
        app.history(&app.client, fx.session_id()).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_streamed_completion_sends_chunks_a_finish_usage_and_done() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let body = json!({
        "model": fx.agent_id(),
        "messages": [user_message("stream me")],
        "stream": true,
        "stream_options": {"include_usage": true},
    });

    // Act
    let resp = completion(&app, &user.token, &body, None).await;

    // Assert
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let data = sse_data(&resp.text().await.expect("body"));
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("JSON chunk"))
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: stream me");
    let finishes: Vec<_> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finishes, ["stop"]);
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"], json!([]), "the usage chunk has no choices");
    assert!(
        last["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "{last}"
    );
}

#[tokio::test]
async fn the_session_header_makes_the_call_a_stored_turn_with_the_stored_history() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let session = Some(fx.session_id());
    let first = json!({"model": fx.agent_id(), "messages": [user_message("first")]});
    let second = json!({
        "model": fx.agent_id(),
        "messages": [user_message("ignored earlier message"), user_message("second")],
        "stream": true,
    });

    // Act
    let one = completion(&app, &user.token, &first, session).await;
    let one = json_with_status(one, 200).await;
    let two = completion(&app, &user.token, &second, session).await;
    assert_eq!(two.status(), 200);
    let two = sse_data(&two.text().await.expect("body"));

    // Assert
    assert_eq!(one["choices"][0]["message"]["content"], "echo: first");
    assert_eq!(two.last().map(String::as_str), Some("[DONE]"));
    let history = app.history(&app.client, fx.session_id()).await;
    let stored: Vec<_> = history
        .iter()
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(stored, ["first", "echo: first", "second", "echo: second"]);
    assert_eq!(
        one["id"].as_str(),
        Some(format!("chatcmpl-{}", history[1]["id"].as_str().unwrap_or("")).as_str()),
        "the id names the stored reply"
    );
    let sent = app.mock.requests().pop().expect("the model was called");
    let texts: Vec<_> = sent.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        ["first", "echo: first", "second"],
        "history from the store"
    );
}

/// A request body, its `x-convo-session`, and the expected status, `code` and `param`.
type Case<'a> = (Value, Option<&'a str>, u16, &'a str, Option<&'a str>);

#[tokio::test]
async fn failures_answer_in_openais_error_shape() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let other = app.other_user().await;
    let theirs = app.fixture(&other.client).await;
    let agent = fx.agent_id();
    let body = |extra: Value| {
        let mut b = json!({"model": agent, "messages": [user_message("hi")]});
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        b
    };
    let cases: Vec<Case> = vec![
        (
            json!({"model": theirs.agent_id(), "messages": [user_message("hi")]}),
            None,
            404,
            "model_not_found",
            Some("model"),
        ),
        (
            body(json!({"messages": [user_message("q"), {"role": "assistant", "content": "a"}]})),
            None,
            400,
            "validation_failed",
            Some("messages"),
        ),
        (
            body(json!({"messages": [{"role": "tool", "content": "x"}]})),
            None,
            400,
            "invalid_request",
            Some("messages"),
        ),
        (
            body(json!({"temperature": 5})),
            None,
            400,
            "validation_failed",
            Some("temperature"),
        ),
        (
            body(json!({"max_tokens": 0})),
            None,
            400,
            "validation_failed",
            Some("max_tokens"),
        ),
        (
            body(json!({"n": 2})),
            None,
            400,
            "unsupported_parameter",
            Some("n"),
        ),
        (
            body(json!({})),
            Some(theirs.session_id()),
            404,
            "not_found",
            None,
        ),
        (
            json!({"model": theirs.agent_id(), "messages": [user_message("hi")]}),
            Some(fx.session_id()),
            400,
            "validation_failed",
            Some("model"),
        ),
    ];

    for (body, session, status, code, param) in cases {
        // Act
        let resp = completion(&app, &user.token, &body, session).await;

        // Assert
        let error = assert_openai_error(resp, status, "invalid_request_error").await;
        assert_eq!(error["code"], code, "{body} -> {error}");
        assert_eq!(error["param"].as_str(), param, "{body} -> {error}");
    }
    let malformed = plain_client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_openai_error(malformed, 400, "invalid_request_error").await;
    for token in [None, Some("not-a-token")] {
        let mut req = plain_client()
            .post(app.url("/v1/chat/completions"))
            .json(&body(json!({})));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("sent");
        let error = assert_openai_error(resp, 401, "authentication_error").await;
        assert_eq!(error["code"], "invalid_api_key");
    }
    let unknown = plain_client()
        .get(app.url("/v1/embeddings"))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("sent");
    assert_openai_error(unknown, 404, "invalid_request_error").await;
    assert!(app.history(&app.client, fx.session_id()).await.is_empty());
}

/// `{"model", "messages"}` for `agent` plus the fields of `extra`.
fn request_with(agent: &str, extra: &Value) -> Value {
    let mut body = json!({"model": agent, "messages": [user_message("hi")]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

#[tokio::test]
async fn fields_that_would_change_the_answer_are_refused_by_name_before_the_model_is_called() {
    // Arrange: every field of OpenAI's request that Convo does not
    // implement, set to a value that asks for it, and fields outside
    // OpenAI's API.
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    // (Tools and response_format are honoured: `openai_tools.rs`.)
    let unsupported = [
        ("functions", json!([{"name": "f", "parameters": {}}])),
        ("function_call", json!({"name": "f"})),
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(2)),
        ("top_p", json!(0.1)),
        ("frequency_penalty", json!(0.5)),
        ("presence_penalty", json!(-1)),
        ("logit_bias", json!({"50256": -100})),
        ("stop", json!("\n")),
        ("stop", json!(["END"])),
        ("seed", json!(42)),
        ("audio", json!({"voice": "alloy", "format": "wav"})),
        ("modalities", json!(["text", "audio"])),
        ("prediction", json!({"type": "content", "content": "x"})),
        ("verbosity", json!("low")),
        ("web_search_options", json!({})),
    ];
    let unknown = [("top_k", json!(40)), ("repetition_penalty", json!(1.1))];
    let mut cases: Vec<(Value, &str, &str)> = unsupported
        .iter()
        .map(|(field, value)| {
            (
                request_with(fx.agent_id(), &json!({ *field: value })),
                *field,
                "unsupported_parameter",
            )
        })
        .collect();
    cases.extend(unknown.iter().map(|(field, value)| {
        (
            request_with(fx.agent_id(), &json!({ *field: value })),
            *field,
            "unknown_parameter",
        )
    }));
    cases.push((
        request_with(fx.agent_id(), &json!({"n": 3, "stream": true})),
        "n",
        "unsupported_parameter",
    ));

    for (body, field, code) in cases {
        // Act
        let resp = completion(&app, &user.token, &body, None).await;

        // Assert
        let error = assert_openai_error(resp, 400, "invalid_request_error").await;
        assert_eq!(error["code"], code, "{body} -> {error}");
        assert_eq!(error["param"], field, "{body} -> {error}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(field)),
            "{body} -> {error}"
        );
    }
    assert_eq!(app.mock.request_count(), 0, "the model was never called");
}

#[tokio::test]
async fn default_values_and_metadata_fields_are_accepted() {
    // Arrange: values that ask for nothing special, and fields that cannot
    // change the answer.
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let cases = [
        json!({"n": 1, "logprobs": false, "top_logprobs": null, "top_p": 1}),
        json!({"tools": [], "tool_choice": "none", "parallel_tool_calls": false}),
        json!({"functions": null, "function_call": "auto", "tool_choice": "auto"}),
        json!({"response_format": {"type": "text"}, "modalities": ["text"], "verbosity": "medium"}),
        json!({"presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}, "stop": null, "seed": null}),
        json!({"audio": null, "prediction": null, "reasoning_effort": null, "web_search_options": null}),
        json!({"user": "end-user-7", "safety_identifier": "h-1", "metadata": {"k": "v"}, "store": true}),
        json!({"service_tier": "auto", "prompt_cache_key": "k", "prompt_cache_retention": "24h"}),
        json!({"max_completion_tokens": 64, "stream": false, "stream_options": null}),
    ];

    for extra in cases {
        // Act
        let body = request_with(fx.agent_id(), &extra);
        let resp = completion(&app, &user.token, &body, None).await;

        // Assert
        let reply = json_with_status(resp, 200).await;
        assert_eq!(
            reply["choices"][0]["message"]["content"], "echo: hi",
            "{extra} -> {reply}"
        );
    }
}

/// A server built from `config` as `main` builds it (memory store, the
/// mock model unless configured otherwise), on a free port.
async fn spawn_built(configure: impl FnOnce(&mut Config)) -> (String, RunningServer) {
    let mut config = test_config(JWT_SECRET);
    configure(&mut config);
    let app = Application::build(&config).await.expect("server builds");
    let running = serve(app);
    (running.address.clone(), running)
}

/// Registers a user on the server at `address`; returns its bearer token.
async fn token_on(address: &str) -> String {
    let creds =
        json!({"email": crate::helpers::unique_email(), "password": crate::helpers::PASSWORD});
    let client = plain_client();
    let resp = client
        .post(format!("{address}/api/auth/register"))
        .json(&creds)
        .send()
        .await
        .expect("sent");
    json_with_status(resp, 201).await;
    let resp = client
        .post(format!("{address}/api/auth/token"))
        .json(&creds)
        .send()
        .await
        .expect("sent");
    let body = json_with_status(resp, 200).await;
    body["access_token"].as_str().expect("token").to_owned()
}

async fn create_agent(address: &str, token: &str, model: &str) -> reqwest::Response {
    let client = plain_client();
    let resp = client
        .post(format!("{address}/api/projects"))
        .bearer_auth(token)
        .json(&json!({"name": "P"}))
        .send()
        .await
        .expect("sent");
    let project = json_with_status(resp, 201).await;
    let id = project["id"].as_str().expect("id");
    client
        .post(format!("{address}/api/projects/{id}/agents"))
        .bearer_auth(token)
        .json(&json!({"name": "A", "system_prompt": "Relay.", "model": model}))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn a_model_prefix_without_a_configured_provider_is_refused_at_agent_creation() {
    // Arrange: no OPENAI_BASE_URL.
    let (address, _server) = spawn_built(|_| {}).await;
    let token = token_on(&address).await;

    for (model, status) in [
        ("openai:gpt-4o-mini", 422),
        ("foo:bar", 422),
        ("gemini-2.5-flash", 201),
    ] {
        // Act
        let resp = create_agent(&address, &token, model).await;

        // Assert
        let body = json_with_status(resp, status).await;
        if status == 422 {
            assert_eq!(body["error"]["param"], "model", "{model}: {body}");
        }
    }
}

#[tokio::test]
async fn an_openai_agent_is_answered_by_another_convo_servers_v1() {
    // Arrange: server B (mock model) serves /v1; server A uses it as its
    // OpenAI-compatible provider with a token of B's user as the API key.
    let b = spawn_app().await;
    let b_user: TestUser = b.sign_up().await;
    let b_fx = b.fixture(&b.client).await;
    let (a, _server) = {
        let base = b.url("/v1");
        let key = b_user.token.clone();
        spawn_built(move |c| {
            c.openai_base_url = Some(base);
            c.openai_api_key = Some(key.into());
        })
        .await
    };
    let a_token = token_on(&a).await;
    let resp = create_agent(&a, &a_token, &format!("openai:{}", b_fx.agent_id())).await;
    let a_agent = json_with_status(resp, 201).await;
    let client = plain_client();
    let resp = client
        .post(format!(
            "{a}/api/chat/start/{}",
            a_agent["id"].as_str().expect("id")
        ))
        .bearer_auth(&a_token)
        .send()
        .await
        .expect("sent");
    let session = json_with_status(resp, 201).await;
    let session_id = session["id"].as_str().expect("id");

    // Act
    let plain = client
        .post(format!("{a}/api/chat/{session_id}/message"))
        .bearer_auth(&a_token)
        .json(&json!({"content": "hello B"}))
        .send()
        .await
        .expect("sent");
    let streamed = client
        .post(format!("{a}/api/chat/{session_id}/message/stream"))
        .bearer_auth(&a_token)
        .json(&json!({"content": "and again"}))
        .send()
        .await
        .expect("sent");

    // Assert
    let turn = json_with_status(plain, 201).await;
    assert_eq!(turn["assistant_message"]["content"], "echo: hello B");
    assert_eq!(streamed.status(), 200);
    let events = crate::helpers::parse_sse(&streamed.text().await.expect("body"));
    let last = events.last().expect("events");
    assert_eq!(
        last.event.as_deref(),
        Some("message.completed"),
        "{events:?}"
    );
    assert_eq!(last.data["message"]["content"], "echo: and again");
    let sent = b.mock.requests();
    assert_eq!(sent.len(), 2, "B's model answered both turns");
    assert_eq!(
        sent[1].system_prompt, "Be brief.\n\nRelay.",
        "B's agent's prompt, then A's"
    );
    let texts: Vec<_> = sent[1]
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        texts,
        ["hello B", "echo: hello B", "and again"],
        "A's history reached B"
    );
    assert!(
        b.history(&b.client, b_fx.session_id()).await.is_empty(),
        "B stored nothing"
    );
}

#[tokio::test]
async fn completions_count_against_the_monthly_token_budget() {
    // Arrange: a budget the first completion spends.
    let app = crate::helpers::spawn_app_with(convo::core::MockProvider::new(), |c| {
        c.monthly_token_budget = 1;
    })
    .await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let body = json!({"model": fx.agent_id(), "messages": [user_message("spend")]});

    // Act
    let first = completion(&app, &user.token, &body, None).await;
    let second = completion(&app, &user.token, &body, None).await;

    // Assert
    json_with_status(first, 200).await;
    assert!(second.headers().contains_key("retry-after"));
    let error = assert_openai_error(second, 429, "rate_limit_error").await;
    assert_eq!(error["code"], "quota_exceeded");
    assert_eq!(
        app.mock.request_count(),
        1,
        "the refused call never reached the model"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_and_no_done() {
    // Arrange
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    app.mock.push(convo::core::llm::MockReply::FailMidStream {
        chunks: 1,
        error: convo::core::LlmError::Provider("cut".into()),
    });
    let body = json!({"model": fx.agent_id(), "messages": [user_message("break")], "stream": true});

    // Act
    let resp = completion(&app, &user.token, &body, None).await;

    // Assert
    assert_eq!(resp.status(), 200, "the stream had started");
    let data = sse_data(&resp.text().await.expect("body"));
    assert!(!data.iter().any(|d| d == "[DONE]"), "{data:?}");
    let last: Value = serde_json::from_str(data.last().expect("events")).expect("JSON");
    assert_eq!(last["error"]["type"], "api_error", "{last}");
    assert_eq!(last["error"]["code"], "llm_error", "{last}");
}

#[tokio::test]
async fn a_reasoning_effort_the_agents_model_does_not_take_is_a_400_naming_it() {
    // Arrange: the default agent's model, Gemini 3.8 Flash, takes low to high.
    let app = spawn_app().await;
    let user = app.sign_up().await;
    let fx = app.fixture(&app.client).await;
    let ask = |effort: &str| json!({"model": fx.agent_id(), "messages": [user_message("hi")], "reasoning_effort": effort});

    // Act
    let minimal = completion(&app, &user.token, &ask("minimal"), None).await;
    let xhigh = completion(&app, &user.token, &ask("xhigh"), None).await;

    // Assert
    for resp in [minimal, xhigh] {
        let error = assert_openai_error(resp, 400, "invalid_request_error").await;
        assert_eq!(error["param"], "reasoning_effort", "{error}");
    }
    assert_eq!(app.mock.request_count(), 0, "the model was not called");
}
