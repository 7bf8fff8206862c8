//! The login cookie.

use chrono::{DateTime, Utc};
use poem::web::cookie::{Cookie, SameSite};

/// Name of the cookie that carries the token.
pub const COOKIE_NAME: &str = "token";

/// `Set-Cookie` value carrying a token until `expires_at`.
pub fn session_cookie(token: &str, expires_at: DateTime<Utc>, secure: bool) -> String {
    let mut cookie = Cookie::new_with_str(COOKIE_NAME, token);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    let max_age = (expires_at - Utc::now()).to_std().unwrap_or_default();
    cookie.set_max_age(max_age);
    cookie.set_expires(expires_at);
    cookie.to_string()
}

/// `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    let mut cookie = Cookie::new_with_str(COOKIE_NAME, "");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie.set_max_age(std::time::Duration::ZERO);
    cookie.set_expires(DateTime::<Utc>::UNIX_EPOCH);
    cookie.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_lax_rooted_and_expires_with_the_token() {
        let expires = Utc::now() + chrono::Duration::hours(1);
        let c = session_cookie("abc", expires, false);
        assert!(c.starts_with("token=abc"), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        assert!(!c.contains("Secure"), "{c}");
        assert!(session_cookie("abc", expires, true).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
