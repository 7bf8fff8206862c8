//! `/api/projects/{project_id}/keys`: a project's API keys, managed by its
//! signed-in owner.

use convo_core::NewApiKey;
use poem_openapi::param::Path;
use poem_openapi::{ApiResponse, OpenApi};

use super::models::{ApiKey, ApiKeyList, CreateApiKey, KeyScope};
use super::projects::Deleted;
use super::ApiTags;
use crate::credentials::Auth;
use crate::http::body::JsonBody;
use crate::http::error::{ApiError, ReadError, WriteError};
use crate::http::json::JsonOut;
use crate::state::AppState;

/// Key operations.
pub struct KeysApi {
    state: AppState,
}

impl KeysApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A key was created.
#[derive(ApiResponse)]
pub enum KeyCreated {
    /// The new key, with its secret in `key`: shown this once.
    #[oai(status = 201)]
    Created(JsonOut<ApiKey>),
}

/// A project's keys.
#[derive(ApiResponse)]
pub enum KeysListed {
    /// Every key of the project, oldest first, without secrets.
    #[oai(status = 200)]
    Ok(JsonOut<ApiKeyList>),
}

#[OpenApi(prefix_path = "/api/projects", tag = "ApiTags::Keys")]
impl KeysApi {
    /// Create a project API key
    ///
    /// The answer's `key` (`ck_…`) is the secret, shown only here: the server keeps a hash.
    /// Send it as `Authorization: Bearer ck_…`; it reaches this project only. A `chat` key
    /// serves end users (each request names one in `X-Convo-End-User`); an `admin` key may do
    /// what the owner may inside the project. Only a signed-in user manages keys.
    #[oai(
        path = "/:project_id/keys",
        method = "post",
        operation_id = "create_api_key"
    )]
    async fn create(
        &self,
        auth: Auth,
        project_id: Path<String>,
        body: JsonBody<CreateApiKey>,
    ) -> Result<KeyCreated, WriteError> {
        let user = auth.user("manage API keys")?;
        let b = body.0;
        let scope = KeyScope::parse(&b.scope).ok_or_else(|| {
            ApiError::from(convo_core::ConvoError::Invalid {
                field: "scope",
                reason: "must be `chat` or `admin`".into(),
            })
        })?;
        let new = NewApiKey {
            name: b.name.into(),
            scope: scope.into(),
            expires_at: b.expires_at,
            rate_limit_per_minute: b.rate_limit_per_minute,
            end_user_monthly_token_budget: b.end_user_monthly_token_budget,
        };
        let issued = self
            .state
            .convo
            .create_api_key(&user.id, &project_id.0, new)
            .await?;
        tracing::info!(key = %issued.key.id, project = %issued.key.project_id,
            scope = %issued.key.scope, "project API key created");
        Ok(KeyCreated::Created(JsonOut(issued.into())))
    }

    /// List a project's API keys
    ///
    /// Never with their secrets.
    #[oai(
        path = "/:project_id/keys",
        method = "get",
        operation_id = "list_api_keys"
    )]
    async fn list(&self, auth: Auth, project_id: Path<String>) -> Result<KeysListed, ReadError> {
        let user = auth.user("manage API keys")?;
        let keys = self
            .state
            .convo
            .list_api_keys(&user.id, &project_id.0)
            .await?;
        Ok(KeysListed::Ok(JsonOut(ApiKeyList::from_page(
            convo_core::Page {
                data: keys,
                has_more: false,
            },
        ))))
    }

    /// Revoke a project API key
    ///
    /// Every server sharing the database refuses the key from its next request on.
    #[oai(
        path = "/:project_id/keys/:key_id",
        method = "delete",
        operation_id = "revoke_api_key"
    )]
    async fn revoke(
        &self,
        auth: Auth,
        project_id: Path<String>,
        key_id: Path<String>,
    ) -> Result<Deleted, ReadError> {
        let user = auth.user("manage API keys")?;
        self.state
            .convo
            .revoke_api_key(&user.id, &project_id.0, &key_id.0)
            .await?;
        tracing::info!(key = %key_id.0, project = %project_id.0, "project API key revoked");
        Ok(Deleted::NoContent)
    }
}
