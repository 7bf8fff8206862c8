//! `GET /api/projects/{id}/export` and `POST /api/projects/import`: a whole
//! project as JSON Lines (the format is defined in `convo_core::engine::transfer`).
//!
//! Both directions stream. Export writes lines as the engine pages through
//! the store; import hands the request body, chunk by chunk, to
//! [`convo_core::engine::parse_lines`], which holds at most one line, and the engine
//! creates objects as lines arrive. The import is bounded by its own limit
//! ([`IMPORT_LIMIT_FACTOR`] × the server's body limit), checked as it reads.

use futures::StreamExt;
use poem::http::StatusCode;
use poem::{Body, FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::param::Path;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi};

use convo_core::ImportError;

use super::projects::ProjectCreated;
use super::ApiTags;
use crate::credentials::Auth;
use crate::http::error::{current_request_id, ApiError, ReadError, WriteError};
use crate::http::json::JsonOut;
use crate::state::AppState;

/// The largest import, as a multiple of the server's request body limit
/// (`max_body_bytes`, 1 MiB by default: imports up to 256 MiB).
pub const IMPORT_LIMIT_FACTOR: u64 = 256;

/// The content types an import accepts.
const NDJSON_TYPES: [&str; 2] = ["application/x-ndjson", "application/jsonl"];

/// Export and import operations.
pub struct TransferApi {
    state: AppState,
}

impl TransferApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A JSON Lines body, streamed.
pub struct Ndjson(Body);

/// A raw JSON Lines document: a string of lines, not one JSON value.
fn ndjson_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: Some("binary"),
        ..MetaSchema::new("string")
    }))
}

impl Payload for Ndjson {
    const CONTENT_TYPE: &'static str = "application/x-ndjson";

    /// Any type gets this far, so that a wrong one is refused by
    /// [`ParsePayload::from_request`] with a message naming the right ones.
    fn check_content_type(_content_type: &str) -> bool {
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        ndjson_schema()
    }
}

impl ParsePayload for Ndjson {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let essence = request
            .content_type()
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !NDJSON_TYPES.contains(&essence.as_str()) {
            let err = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/x-ndjson (JSON Lines)",
            );
            return Err(poem::Error::from_response(err.into_response()));
        }
        Ok(Self(
            <Body as FromRequest>::from_request(request, body).await?,
        ))
    }
}

impl<'a> ApiExtractor<'a> for Ndjson {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let content = NDJSON_TYPES
            .iter()
            .map(|&content_type| MetaMediaType {
                content_type,
                schema: ndjson_schema(),
            })
            .collect();
        Some(MetaRequest {
            description: None,
            content,
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        <Self as ParsePayload>::from_request(request, body).await
    }
}

impl IntoResponse for Ndjson {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

/// An exported project.
#[derive(ApiResponse)]
pub enum ProjectExported {
    /// `application/x-ndjson`: the project as JSON Lines, streamed.
    #[oai(status = 200)]
    Ok(
        Ndjson,
        /// `attachment; filename="project-<id>.jsonl"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/projects", tag = "ApiTags::Projects")]
impl TransferApi {
    /// Export a project
    ///
    /// The project with its agents, chat sessions and messages as JSON Lines
    /// (`application/x-ndjson`), one object per line, tagged by `type`:
    ///
    /// 1. `{"type":"convo.export","version":2}`, always first;
    /// 2. `{"type":"project","id","name","description","created_at","updated_at"}`;
    /// 3. per agent, oldest first: `{"type":"agent","id","name","system_prompt","model",
    ///    "temperature","max_output_tokens","context_messages","context_tokens",
    ///    "reasoning_effort"?,"tools","max_tool_rounds","created_at","updated_at"}` (tools as
    ///    the agent shows them; never its webhook secret), then per session of that agent,
    ///    oldest first,
    ///    `{"type":"session","id","agent_id","title","forked_from","created_at","updated_at"}`
    ///    followed by its messages in order: `{"type":"message","session_id","seq","role",
    ///    "content","created_at","model"?,"finish_reason"?,"usage"?,"context"?,
    ///    "tool_calls"?,"tool_call_id"?,"name"?,"is_error"?}`;
    /// 4. `{"type":"end","agents":N,"sessions":N,"messages":N}`, always last.
    ///
    /// The body is streamed as the store is read. Ownership is checked first (someone
    /// else's project is `404`); a failure after the first line has been sent can only
    /// break off the stream, so a download without its `end` line is incomplete (and an
    /// import refuses it).
    #[oai(
        path = "/:project_id/export",
        method = "get",
        operation_id = "export_project"
    )]
    async fn export(
        &self,
        auth: Auth,
        project_id: Path<String>,
    ) -> Result<ProjectExported, ReadError> {
        let records = self
            .state
            .convo
            .export_project(auth.caller(), &project_id.0)
            .await?;
        let request_id = current_request_id();
        let project = project_id.0;
        let disposition = format!("attachment; filename=\"project-{project}.jsonl\"");
        // Lines already serialised go out in one chunk: a page of messages is
        // a hundred records ready at once.
        let lines = records.ready_chunks(64).map(move |batch| {
            let mut chunk = Vec::with_capacity(batch.len() * 512);
            for record in batch {
                match record.and_then(|r| r.to_line()) {
                    Ok(line) => chunk.extend_from_slice(&line),
                    Err(e) => {
                        tracing::error!(request_id = %request_id, project = %project, error = %e, "export failed after it started; breaking off the stream");
                        return Err(std::io::Error::other("export failed"));
                    }
                }
            }
            Ok(chunk)
        });
        Ok(ProjectExported::Ok(
            Ndjson(Body::from_bytes_stream(lines)),
            disposition,
        ))
    }

    /// Import a project
    ///
    /// Creates a new project of the caller from an export (`application/x-ndjson`, or
    /// `application/jsonl`; see *Export a project* for the lines), with new ids and the
    /// same agents (and tools; each gets a new webhook secret), sessions and messages
    /// (roles, contents, the assistant messages' `model`, `finish_reason`, `usage`,
    /// `context` and `tool_calls`, and the tool messages' fields). Files of version 1
    /// (before tools) import too. Objects get the time of the
    /// import as `created_at`, except messages, which keep theirs. A session's
    /// `forked_from` is kept when its source session is earlier in the file, and dropped
    /// otherwise. Ids in the file only tie its lines together (any string of 1–100
    /// characters).
    ///
    /// The body is read and imported line by line. A malformed line, a first line that
    /// is not `{"type":"convo.export","version":2}` (or 1), a reference to a line that is not
    /// earlier in the file, a `seq` out of order, a value the usual rules refuse, or a
    /// missing or wrong `end` line is `422 validation_failed` with `param` naming the
    /// line (`line 17`); then nothing is left behind. The file may be up to 256 times
    /// the server's request body limit.
    #[oai(path = "/import", method = "post", operation_id = "import_project")]
    async fn import(&self, auth: Auth, body: Ndjson) -> Result<ProjectCreated, WriteError> {
        let limit = (self.state.max_body_bytes as u64).saturating_mul(IMPORT_LIMIT_FACTOR);
        // A message may be JSON-escaped to six bytes a byte; names and prompts are smaller.
        let max_line = self
            .state
            .convo
            .settings()
            .max_message_bytes
            .saturating_mul(6)
            .saturating_add(64 * 1024);
        let records = convo_core::engine::parse_lines(body.0.into_bytes_stream(), limit, max_line);
        let project = self
            .state
            .convo
            .import_project(&auth.user("import projects")?.id, records)
            .await
            .map_err(import_error)?;
        Ok(ProjectCreated::Created(JsonOut(project.into())))
    }
}

/// The contract's answer to a failed import.
fn import_error(err: ImportError) -> ApiError {
    match err {
        ImportError::Line { line, message } => {
            ApiError::validation(format!("line {line}"), format!("line {line}: {message}"))
        }
        ImportError::TooLarge { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the file is over the import limit of {limit} bytes"),
        ),
        ImportError::Read(detail) => {
            tracing::info!(detail = %detail, "import body could not be read");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body could not be read",
            )
        }
        ImportError::Convo(e) => e.into(),
    }
}
