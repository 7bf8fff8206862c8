//! Authentication: tokens, the cookie, the security schemes, login limits,
//! and the signing secret kept beside a SQLite database.

mod cookie;
mod crypto;
mod jwt;
mod limiter;
mod scheme;
mod secret_file;

pub use cookie::{clear_cookie, session_cookie, COOKIE_NAME};
pub use crypto::install_jwt_crypto;
pub use jwt::{Claims, JwtKeys};
pub use limiter::FailureLimiter;
pub use scheme::{authenticate_token, Auth, AuthUser};
pub use secret_file::{kept_secret, secret_file_beside, KeptSecret, SecretFileError};
