//! Authentication: tokens, the cookie, the security schemes, login limits,
//! the signing secret kept beside a SQLite database, and single sign-on
//! (`oidc`), and project API keys (`project_key`).

mod cookie;
mod crypto;
mod jwt;
mod limiter;
pub mod oidc;
mod project_key;
mod scheme;
mod secret_file;
mod verdict;

pub use cookie::{clear_cookie, session_cookie, COOKIE_NAME};
pub use crypto::install_jwt_crypto;
pub use jwt::{Claims, JwtKeys};
pub use limiter::{client_address, FailureLimiter};
pub use project_key::{authenticate_key, end_user_header, key_caller, END_USER_HEADER};
pub use scheme::{authenticate_token, Auth, AuthUser};
pub use secret_file::{kept_secret, secret_file_beside, KeptSecret, SecretFileError};
pub use verdict::{bearer_failure, scope as bearer_verdict_scope};
