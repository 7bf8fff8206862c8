//! The usage ledger: records summed per day, project or agent, in a window.

use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::fixtures::{agent, project, Fixture};
use crate::domain::{Timestamp, Usage, UsageGroupBy, UsageRecord, UsageTotals};
use crate::store::Store;

fn at(day: u32, hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("a valid date")
}

fn tokens(prompt: u64, completion: u64) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        thoughts_tokens: Some(1),
        cached_tokens: None,
    })
}

/// Sums per day, project and agent over `from <= at < to`, only the owner's,
/// groups in ascending key order, failures counted as turns.
pub async fn usage_is_summed_per_day_project_and_agent(store: Arc<dyn Store>) {
    let f = Fixture::insert(store.as_ref()).await;
    let other_project = project(&f.user.id);
    store
        .insert_project(&other_project)
        .await
        .expect("insert_project");
    let other_agent = agent(&other_project);
    store
        .insert_agent(&other_agent)
        .await
        .expect("insert_agent");
    let stranger = Fixture::insert(store.as_ref()).await;
    let record =
        |f: &Fixture, agent: &crate::domain::Agent, at: Timestamp, usage, failed| UsageRecord {
            owner: f.user.id,
            project_id: agent.project_id,
            agent_id: agent.id,
            session_id: f.session.id,
            at,
            usage,
            failed,
            key_id: None,
            end_user: None,
        };
    let records = [
        record(&f, &f.agent, at(2, 10), tokens(10, 5), false),
        record(&f, &f.agent, at(2, 23), tokens(20, 5), false),
        record(&f, &f.agent, at(3, 1), None, true),
        record(&f, &other_agent, at(3, 2), tokens(100, 50), false),
        // Outside the window, and someone else's.
        record(&f, &f.agent, at(1, 23), tokens(1000, 1000), false),
        record(&f, &f.agent, at(4, 0), tokens(1000, 1000), false),
        record(
            &stranger,
            &stranger.agent,
            at(2, 12),
            tokens(1000, 1000),
            false,
        ),
    ];
    for r in &records {
        store
            .record_usage(r)
            .await
            .expect("record_usage must succeed");
    }
    let (from, to) = (at(2, 0), at(4, 0));

    let by_day = store
        .usage(&f.user.id, from, to, UsageGroupBy::Day)
        .await
        .expect("usage by day");
    let days: Vec<(&str, UsageTotals)> =
        by_day.iter().map(|g| (g.key.as_str(), g.totals)).collect();
    assert_eq!(
        days,
        [
            (
                "2026-11-02",
                UsageTotals {
                    prompt_tokens: 30,
                    completion_tokens: 10,
                    thoughts_tokens: 2,
                    cached_tokens: 0,
                    total_tokens: 40,
                    turns: 2,
                    failures: 0
                }
            ),
            (
                "2026-11-03",
                UsageTotals {
                    prompt_tokens: 100,
                    completion_tokens: 50,
                    thoughts_tokens: 1,
                    cached_tokens: 0,
                    total_tokens: 150,
                    turns: 2,
                    failures: 1
                }
            ),
        ],
        "per UTC day, within [from, to), only the owner's"
    );

    let by_project = store
        .usage(&f.user.id, from, to, UsageGroupBy::Project)
        .await
        .expect("usage by project");
    let mut expected = vec![
        (f.project.id.to_string(), 40, 3, 1),
        (other_project.id.to_string(), 150, 1, 0),
    ];
    expected.sort();
    let got: Vec<(String, u64, u64, u64)> = by_project
        .iter()
        .map(|g| {
            (
                g.key.clone(),
                g.totals.total_tokens,
                g.totals.turns,
                g.totals.failures,
            )
        })
        .collect();
    assert_eq!(got, expected, "per project, in key order");

    let by_agent = store
        .usage(&f.user.id, from, to, UsageGroupBy::Agent)
        .await
        .expect("usage by agent");
    assert_eq!(by_agent.len(), 2, "per agent");
    assert!(
        store
            .usage(&f.user.id, at(10, 0), at(11, 0), UsageGroupBy::Day)
            .await
            .expect("usage")
            .is_empty(),
        "an empty window has no groups"
    );
}
