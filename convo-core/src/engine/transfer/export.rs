//! Export: a project, its agents, sessions and messages as records, read
//! from the store a page at a time.

use std::future::Future;

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};

use crate::domain::{AgentId, IntoId, Order, Page, PageRequest, ProjectId, UserId};
use crate::engine::Convo;
use crate::error::ConvoError;
use crate::store::{Store, StoreError};

use super::format::*;

impl Convo {
    /// Exports one of the owner's projects: the format line, the project, its
    /// agents, sessions and messages, and the end line (see the
    /// [format](crate::engine::transfer)).
    ///
    /// Ownership is checked before this returns, so `Err` is an ordinary
    /// failure. The stream reads the store a page at a time as it is polled;
    /// if the store fails it yields that error and ends (without an end line).
    pub async fn export_project(
        &self,
        caller: impl Into<crate::domain::Caller>,
        project_id: impl IntoId<ProjectId>,
    ) -> Result<ExportStream, ConvoError> {
        let project = self.project(caller, project_id).await?;
        let store = self.store().clone();
        let owner = project.owner;
        let head = stream::iter([
            Ok(ExportRecord::Format(ExportFormat {
                version: EXPORT_VERSION,
            })),
            Ok(ExportRecord::Project(ExportedProject {
                id: project.id.to_string(),
                name: project.name,
                description: project.description,
                created_at: Some(project.created_at),
                updated_at: Some(project.updated_at),
            })),
        ]);
        let agents = {
            let store = store.clone();
            paged(
                move |page| {
                    let store = store.clone();
                    async move { store.agents(&owner, &project.id, &page).await }
                },
                |a| a.id,
            )
        };
        let body = agents
            .map_ok(move |agent| {
                let record = ExportRecord::Agent(ExportedAgent {
                    id: agent.id.to_string(),
                    name: agent.name,
                    system_prompt: agent.system_prompt,
                    model: Some(agent.model),
                    temperature: agent.temperature,
                    max_output_tokens: agent.max_output_tokens,
                    context_messages: Some(agent.context_messages),
                    context_tokens: agent.context_tokens,
                    reasoning_effort: agent.reasoning_effort,
                    tools: agent.tools.into_iter().map(Into::into).collect(),
                    max_tool_rounds: Some(agent.max_tool_rounds),
                    created_at: Some(agent.created_at),
                    updated_at: Some(agent.updated_at),
                });
                stream::once(async move { Ok(record) }).chain(export_sessions(
                    store.clone(),
                    owner,
                    agent.id,
                ))
            })
            .try_flatten();
        // A sentinel after the last record makes room for the end line.
        let records = head
            .chain(body)
            .map(Some)
            .chain(stream::once(async { None }));
        let stream = records.scan((ExportEnd::default(), false), |(counts, failed), item| {
            let out = match item {
                _ if *failed => None,
                Some(Ok(record)) => {
                    counts.count(&record);
                    Some(Ok(record))
                }
                Some(Err(e)) => {
                    *failed = true;
                    Some(Err(e))
                }
                None => Some(Ok(ExportRecord::End(*counts))),
            };
            std::future::ready(out)
        });
        Ok(stream.boxed())
    }
}

/// The sessions of an agent, each followed by its messages.
fn export_sessions(
    store: std::sync::Arc<dyn Store>,
    owner: UserId,
    agent: AgentId,
) -> BoxStream<'static, Result<ExportRecord, ConvoError>> {
    let sessions = {
        let store = store.clone();
        paged(
            move |page| {
                let store = store.clone();
                async move { store.sessions(&owner, &agent, None, &page).await }
            },
            |s| s.id,
        )
    };
    sessions
        .map_ok(move |session| {
            let (id, owner) = (session.id, session.owner);
            let record = ExportRecord::Session(ExportedSession {
                id: session.id.to_string(),
                agent_id: session.agent_id.to_string(),
                title: session.title,
                forked_from: session.forked_from.map(|f| ExportedFork {
                    session_id: f.session_id.to_string(),
                    seq: f.seq,
                }),
                created_at: Some(session.created_at),
                updated_at: Some(session.updated_at),
                end_user: session.end_user,
            });
            let store = store.clone();
            let messages = paged(
                move |page| {
                    let store = store.clone();
                    async move { store.messages(&owner, &id, &page).await }
                },
                |m| m.id,
            )
            .map_ok(|m| {
                ExportRecord::Message(ExportedMessage {
                    session_id: m.session_id.to_string(),
                    seq: m.seq,
                    role: m.role,
                    content: m.content,
                    created_at: Some(m.created_at),
                    model: m.model,
                    finish_reason: m.finish_reason,
                    usage: m.usage,
                    context: m.context,
                    tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
                    tool_call_id: m.tool_call_id,
                    name: m.tool_name,
                    is_error: m.is_error,
                })
            });
            stream::once(async move { Ok(record) }).chain(messages)
        })
        .try_flatten()
        .boxed()
}

/// Every item of a list, read a page at a time in ascending order; ends
/// after the first error.
fn paged<T, K, F, Fut>(
    fetch: F,
    key: fn(&T) -> K,
) -> impl Stream<Item = Result<T, ConvoError>> + Send + 'static
where
    T: Send + 'static,
    K: Send + 'static,
    F: FnMut(PageRequest<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, StoreError>> + Send,
{
    stream::try_unfold(
        (fetch, Some(None::<K>)),
        move |(mut fetch, cursor)| async move {
            let Some(after) = cursor else {
                return Ok::<_, ConvoError>(None);
            };
            let page = fetch(PageRequest {
                limit: PAGE_SIZE,
                order: Order::Asc,
                after,
                before: None,
            })
            .await
            .map_err(ConvoError::from)?;
            let next = match page.data.last() {
                Some(last) if page.has_more => Some(Some(key(last))),
                _ => None,
            };
            Ok(Some((page.data, (fetch, next))))
        },
    )
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}
