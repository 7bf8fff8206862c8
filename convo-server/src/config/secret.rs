//! Settings whose values must never reach a log line: they are usable, but
//! their `Debug` (and `Display`, where there is one) hides what is secret.

use std::fmt;
use std::str::FromStr;

/// What is printed instead of a secret.
const REDACTED: &str = "[redacted]";

/// A secret setting (a signing secret, an API key): readable through
/// [`Secret::expose`], never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(s.into())
    }
}

/// Where data lives: `memory`, a SQLite file, or a MongoDB URI, which may
/// carry a password (`mongodb://user:password@host/db`); `Debug` and
/// `Display` show it without.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUri(String);

impl StoreUri {
    /// The setting as given, password included (for the driver only).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the in-memory store.
    pub fn is_memory(&self) -> bool {
        self.0 == "memory"
    }

    /// The URI with the password of its user info (if any) replaced.
    pub fn redacted(&self) -> String {
        let uri = &self.0;
        // A SQLite path has no user info: an `@` in it is part of a file name.
        if uri.starts_with("sqlite:") {
            return uri.clone();
        }
        let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
            return uri.clone();
        };
        // The authority ends at the path or the query; user info is what
        // precedes its last `@` (a password may itself contain `@` when
        // percent-encoding was forgotten).
        let rest = &uri[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return uri.clone();
        };
        let user = rest[..at].split(':').next().unwrap_or_default();
        format!("{}{user}:{REDACTED}{}", &uri[..scheme_end], &rest[at..])
    }
}

impl fmt::Debug for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<String> for StoreUri {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for StoreUri {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl FromStr for StoreUri {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(s.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_uri_shows_everything_but_the_password() {
        let cases = [
            ("memory", "memory"),
            ("mongodb://h:27017/db", "mongodb://h:27017/db"),
            (
                "mongodb://app:s3cret@h1:1,h2:2/db?authSource=admin",
                "mongodb://app:[redacted]@h1:1,h2:2/db?authSource=admin",
            ),
            (
                "mongodb+srv://app:p@ss@cluster.example/db",
                "mongodb+srv://app:[redacted]@cluster.example/db",
            ),
            ("mongodb://app@h/db", "mongodb://app:[redacted]@h/db"),
            ("mongodb://h/db?x=a@b", "mongodb://h/db?x=a@b"),
            ("sqlite://me@home/convo.db", "sqlite://me@home/convo.db"),
        ];
        for (uri, shown) in cases {
            assert_eq!(StoreUri::from(uri).redacted(), shown, "{uri}");
        }
    }

    #[test]
    fn a_secret_prints_as_redacted() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }
}
