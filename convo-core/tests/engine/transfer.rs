//! Import of numbers no store keeps, and of sessions longer than one append batch.

use convo_core::{ExportRecord, ImportError, ListParams, MockProvider};
use futures::StreamExt;
use serde_json::json;

use crate::support::*;

/// A hand-written export: one agent; a session with a user message and a
/// reply whose usage and context counts are `usage` and `context`; and a
/// second session forked from the first at `fork_seq`.
fn export_file(usage: u64, context: u64, fork_seq: u64) -> String {
    let lines = [
        json!({"type": "convo.export", "version": 1}),
        json!({"type": "project", "id": "p1", "name": "Imported"}),
        json!({"type": "agent", "id": "a1", "name": "A", "system_prompt": "Be kind."}),
        json!({"type": "session", "id": "s1", "agent_id": "a1"}),
        json!({"type": "message", "session_id": "s1", "seq": 1, "role": "user", "content": "hi"}),
        json!({"type": "message", "session_id": "s1", "seq": 2, "role": "assistant", "content": "hello",
               "usage": {"prompt_tokens": usage, "completion_tokens": usage, "total_tokens": usage,
                         "thoughts_tokens": usage, "cached_tokens": usage},
               "context": {"first_seq": context, "last_seq": context, "messages": context}}),
        json!({"type": "session", "id": "s2", "agent_id": "a1",
               "forked_from": {"session_id": "s1", "seq": fork_seq}}),
        json!({"type": "end", "agents": 1, "sessions": 2, "messages": 2}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn import_text(w: &World, text: String) -> Result<convo_core::Project, ImportError> {
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(text.into_bytes())]);
    let records = convo_core::engine::parse_lines(chunks, 1 << 20, 1 << 16);
    w.convo.import_project(&w.user, records).await
}

#[tokio::test]
async fn an_import_refuses_integers_no_store_keeps_and_keeps_the_largest_one_exactly() {
    // Arrange: MongoDB keeps signed 64-bit integers; memory keeps u64.
    let w = world(MockProvider::new()).await;
    let max = u64::try_from(i64::MAX).expect("positive");
    let cases = [
        (
            "usage",
            export_file(u64::MAX, 1, 1),
            6,
            "usage.prompt_tokens",
        ),
        (
            "context",
            export_file(1, max + 1, 1),
            6,
            "context.first_seq",
        ),
        ("fork", export_file(1, 1, u64::MAX), 7, "forked_from.seq"),
    ];

    for (case, file, expected_line, field) in cases {
        // Act
        let result = import_text(&w, file).await;

        // Assert
        match result {
            Err(ImportError::Line { line, message }) => {
                assert_eq!(line, expected_line, "{case}: {message}");
                assert!(message.contains(field), "{case}: {message}");
            }
            other => panic!("{case}: expected a line error, got {other:?}"),
        }
        let projects = w
            .convo
            .list_projects(&w.user, &ListParams::default())
            .await
            .expect("list");
        assert!(projects.data.is_empty(), "{case}: nothing is left behind");
    }

    // Act: the largest integer every store keeps.
    let project = import_text(&w, export_file(max, max, 2))
        .await
        .expect("i64::MAX imports");

    // Assert: it comes back exactly.
    let exported: Vec<ExportRecord> = w
        .convo
        .export_project(&w.user, &project.id.to_string())
        .await
        .expect("export")
        .map(|r| r.expect("record"))
        .collect()
        .await;
    let usage = exported
        .iter()
        .find_map(|r| match r {
            ExportRecord::Message(m) => m.usage,
            _ => None,
        })
        .expect("the reply's usage");
    assert_eq!((usage.prompt_tokens, usage.cached_tokens), (max, Some(max)));
    let context = exported
        .iter()
        .find_map(|r| match r {
            ExportRecord::Message(m) => m.context,
            _ => None,
        })
        .expect("the reply's context");
    assert_eq!(context.messages, max);
}

#[tokio::test]
async fn an_import_of_interleaved_sessions_longer_than_a_batch_keeps_every_message_in_order() {
    // Arrange: s1's 2,500 messages (more than two append batches) with s2's
    // three in the middle of them, so batches are cut by size and by session.
    let w = world(MockProvider::new()).await;
    let message = |session: &str, seq: u64| {
        json!({"type": "message", "session_id": session, "seq": seq, "role": "user",
               "content": format!("{session} #{seq}")})
    };
    let mut lines = vec![
        json!({"type": "convo.export", "version": 1}),
        json!({"type": "project", "id": "p1", "name": "Long"}),
        json!({"type": "agent", "id": "a1", "name": "A", "system_prompt": "Be kind."}),
        json!({"type": "session", "id": "s1", "agent_id": "a1"}),
        json!({"type": "session", "id": "s2", "agent_id": "a1"}),
    ];
    for seq in 1..=2500 {
        lines.push(message("s1", seq));
        if seq == 1200 {
            lines.extend((1..=3).map(|seq| message("s2", seq)));
        }
    }
    lines.push(json!({"type": "end", "agents": 1, "sessions": 2, "messages": 2503}));
    let text = lines.iter().map(|l| format!("{l}\n")).collect();

    // Act
    let project = import_text(&w, text).await.expect("the file imports");

    // Assert: each session holds its messages in file order, seqs 1..=n.
    let exported: Vec<ExportRecord> = w
        .convo
        .export_project(&w.user, &project.id.to_string())
        .await
        .expect("export")
        .map(|r| r.expect("record"))
        .collect()
        .await;
    let mut sessions: std::collections::BTreeMap<String, Vec<(u64, String)>> = Default::default();
    for record in exported {
        if let ExportRecord::Message(m) = record {
            sessions
                .entry(m.session_id)
                .or_default()
                .push((m.seq, m.content));
        }
    }
    let mut histories: Vec<Vec<(u64, String)>> = sessions.into_values().collect();
    histories.sort_by_key(Vec::len);
    let expected = |name: &str, n: u64| -> Vec<(u64, String)> {
        (1..=n).map(|seq| (seq, format!("{name} #{seq}"))).collect()
    };
    assert_eq!(histories.len(), 2, "two sessions");
    assert_eq!(histories[0], expected("s2", 3), "s2's messages, in order");
    assert_eq!(
        histories[1],
        expected("s1", 2500),
        "s1's messages, in order"
    );
}
