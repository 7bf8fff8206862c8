//! Authentication: tokens, the cookie, the security schemes, login limits.

mod cookie;
mod crypto;
mod jwt;
mod limiter;
mod scheme;

pub use cookie::{clear_cookie, session_cookie, COOKIE_NAME};
pub use crypto::install_jwt_crypto;
pub use jwt::{Claims, JwtKeys};
pub use limiter::FailureLimiter;
pub use scheme::{authenticate_token, Auth, AuthUser};
