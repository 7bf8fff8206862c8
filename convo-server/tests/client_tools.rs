//! A turn paused for a client tool by one `convo-server` process is resumed
//! by another on the same SQLite file: all the turn's state is in the store.
//! The model is the workspace's fake (in this test's process), told by a
//! directive in the message to call the tool.

mod common;

use common::fixture::{create_agent, create_project, sign_up, start_chat};
use common::{get, new_client, post, Server, TempDir, SECRET};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_paused_on_one_server_is_resumed_by_outputs_posted_to_another() {
    // Arrange
    let fake = convo_fake::FakeModel::start(convo_fake::Options::default())
        .await
        .expect("the fake model starts");
    let dir = TempDir::new("mp-client-tools");
    let uri = dir.sqlite_uri("convo.db");
    let fake_url = fake.url();
    let env = [
        ("CONVO_STORE", uri.as_str()),
        ("CONVO_JWT_SECRET", SECRET),
        ("GEMINI_API_KEY", "any"),
        ("GEMINI_BASE_URL", fake_url.as_str()),
    ];
    let (a, b) = (Server::start(&env), Server::start(&env));
    let client = new_client();
    sign_up(&client, &a.base, "tools@example.com").await;
    let project = create_project(&client, &a.base, "p").await;
    let agent = json!({"name": "Weather", "system_prompt": "Use tools.", "tools": [
        {"name": "get_weather", "parameters": {"type": "object",
         "properties": {"city": {"type": "string"}}}, "execution": "client"}]});
    let agent = create_agent(&client, &a.base, id(&project), &agent).await;
    let session = start_chat(&client, &a.base, id(&agent)).await;
    let chat = format!("/api/chat/{}", id(&session));
    let ask = "Weather in Paris? \
               [[convo-fake:{\"function_calls\":[{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}]}]]";

    // Act
    let (paused_status, paused) = post(
        &client,
        a.url(&format!("{chat}/message")),
        json!({"content": ask}),
    )
    .await;
    let (refused_status, refused) = post(
        &client,
        b.url(&format!("{chat}/message")),
        json!({"content": "never mind"}),
    )
    .await;
    let call_id = paused["pending_tool_calls"][0]["id"].clone();
    let (resumed_status, resumed) = post(
        &client,
        b.url(&format!("{chat}/tool_outputs")),
        json!({"outputs": [{"tool_call_id": call_id, "output": {"temp_c": 18}}]}),
    )
    .await;
    let (_, shown) = get(&client, a.url(&chat)).await;
    let (_, history) = get(&client, a.url(&format!("{chat}/messages"))).await;

    // Assert
    assert_eq!(paused_status, 201, "{paused}");
    assert_eq!(paused["assistant_message"]["finish_reason"], "tool_calls");
    assert_eq!(
        paused["pending_tool_calls"][0]["arguments"],
        json!({"city": "Paris"}),
        "{paused}"
    );
    assert_eq!(refused_status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "tool_outputs_required");
    assert_eq!(resumed_status, 201, "{resumed}");
    assert_eq!(resumed["pending_tool_calls"], json!([]));
    assert_eq!(resumed["assistant_message"]["finish_reason"], "stop");
    assert!(
        resumed["assistant_message"]["content"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{resumed}"
    );
    assert_eq!(shown["pending_tool_calls"], json!([]), "A sees it resumed");
    let roles: Vec<&Value> = history["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["role"])
        .collect();
    assert_eq!(
        roles,
        [
            &json!("user"),
            &json!("assistant"),
            &json!("tool"),
            &json!("assistant")
        ]
    );
    let sent_back = fake
        .requests()
        .into_iter()
        .filter(|r| r["rpc"] == "generateContent")
        .count();
    assert_eq!(sent_back, 2, "the model was called on A, then on B");
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}
