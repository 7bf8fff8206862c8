//! `/api/auth/*`: register, login, logout, me, token.

use poem::http::StatusCode;
use poem::web::RemoteAddr;

use crate::http::body::JsonBody;
use crate::http::json::JsonOut;
use poem_openapi::{ApiResponse, OpenApi};

use super::models::{LoginRequest, RegisterRequest, TokenResponse, UserEnvelope};
use super::ApiTags;
use crate::credentials::{clear_cookie, session_cookie, Auth};
use crate::http::error::{ApiError, AuthError, ReadError};
use crate::state::AppState;

/// Auth operations.
pub struct AuthApi {
    state: AppState,
}

impl AuthApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A successful registration.
#[derive(ApiResponse)]
pub enum Registered {
    /// The user is registered and logged in (the `token` cookie is set).
    #[oai(status = 201)]
    Created(JsonOut<UserEnvelope>, #[oai(header = "Set-Cookie")] String),
}

/// A successful login.
#[derive(ApiResponse)]
pub enum LoggedIn {
    /// Logged in (the `token` cookie is set).
    #[oai(status = 200)]
    Ok(JsonOut<UserEnvelope>, #[oai(header = "Set-Cookie")] String),
}

/// A successful logout.
#[derive(ApiResponse)]
pub enum LoggedOut {
    /// The token is revoked and the cookie cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

/// The caller.
#[derive(ApiResponse)]
pub enum Me {
    /// The authenticated user.
    #[oai(status = 200)]
    Ok(JsonOut<UserEnvelope>),
}

/// A new token.
#[derive(ApiResponse)]
pub enum Token {
    /// A bearer token (not set as a cookie).
    #[oai(status = 200)]
    Ok(JsonOut<TokenResponse>),
}

impl AuthApi {
    /// Issues a token for `user` and the cookie that carries it.
    fn login_cookie(&self, user: &convo_core::User) -> Result<String, ApiError> {
        let (token, claims) = self.state.jwt.issue(&user.id).map_err(ApiError::internal)?;
        Ok(session_cookie(
            &token,
            claims.expires_at(),
            self.state.secure_cookies,
        ))
    }

    /// Checks credentials under the failed-login limits.
    async fn verify(
        &self,
        body: &LoginRequest,
        remote: &RemoteAddr,
    ) -> Result<convo_core::User, ApiError> {
        let email_key = format!("email:{}", body.email.trim().to_lowercase());
        let keys = [
            email_key,
            format!("ip:{}", crate::credentials::client_address(remote)),
        ];
        let limiter = &self.state.login_failures;
        if let Err(wait) = limiter.check(&keys) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed logins; try again later",
            )
            .retry(Some(wait)));
        }
        match self
            .state
            .convo
            .verify_credentials(&body.email, &body.password)
            .await
        {
            Ok(user) => {
                limiter.clear(&keys[0]);
                Ok(user)
            }
            Err(e) => {
                if matches!(e, convo_core::ConvoError::InvalidCredentials) {
                    limiter.record_failure(&keys);
                }
                Err(e.into())
            }
        }
    }
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Creates a user and logs them in: the response sets the HTTP-only `token` cookie,
    /// so Swagger UI and browsers are authenticated from here on. The e-mail is trimmed
    /// and compared case-insensitively; the password must have 8–128 characters.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(&self, body: JsonBody<RegisterRequest>) -> Result<Registered, AuthError> {
        let body = body.0;
        let user = self
            .state
            .convo
            .register(body.email.as_str(), &body.password, body.name.as_deref())
            .await?;
        let cookie = self.login_cookie(&user)?;
        tracing::info!(user = %user.id, "user registered");
        Ok(Registered::Created(
            JsonOut(UserEnvelope { user: user.into() }),
            cookie,
        ))
    }

    /// Log in
    ///
    /// Checks the e-mail and password and sets the HTTP-only `token` cookie. A wrong
    /// e-mail and a wrong password get the same `401 invalid_credentials`. After 10 failed
    /// logins in a minute for one e-mail or one client address, `429 rate_limited`
    /// with `Retry-After`.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        body: JsonBody<LoginRequest>,
        remote: &RemoteAddr,
    ) -> Result<LoggedIn, AuthError> {
        let user = self.verify(&body.0, remote).await?;
        let cookie = self.login_cookie(&user)?;
        Ok(LoggedIn::Ok(
            JsonOut(UserEnvelope { user: user.into() }),
            cookie,
        ))
    }

    /// Log out
    ///
    /// Revokes the token used for this call (everywhere the store is shared) and clears the cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: Auth) -> Result<LoggedOut, ReadError> {
        let claims = &auth.user("log out")?.claims;
        self.state
            .convo
            .revoke_token(&claims.jti, claims.expires_at())
            .await?;
        Ok(LoggedOut::NoContent(clear_cookie(
            self.state.secure_cookies,
        )))
    }

    /// Who am I
    ///
    /// The authenticated user.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: Auth) -> Result<Me, ReadError> {
        let user = self
            .state
            .convo
            .user(&auth.user("read an account")?.id)
            .await
            .map_err(|e| match e {
                convo_core::ConvoError::NotFound(_) => ApiError::unauthenticated(),
                other => other.into(),
            })?;
        Ok(Me::Ok(JsonOut(UserEnvelope { user: user.into() })))
    }

    /// Get a bearer token
    ///
    /// For programs: checks the e-mail and password like login, and returns a token to send
    /// as `Authorization: Bearer <access_token>`. No cookie is set. The only response that
    /// carries a token in its body.
    #[oai(path = "/token", method = "post", operation_id = "create_token")]
    async fn token(
        &self,
        body: JsonBody<LoginRequest>,
        remote: &RemoteAddr,
    ) -> Result<Token, AuthError> {
        let user = self.verify(&body.0, remote).await?;
        let (access_token, claims) = self.state.jwt.issue(&user.id).map_err(ApiError::internal)?;
        Ok(Token::Ok(JsonOut(TokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_at: claims.expires_at(),
        })))
    }
}
