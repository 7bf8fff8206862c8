//! [`SqliteLocation`]: where the database file is, parsed from a path or a
//! `sqlite://` connection string at the edge.

use std::fmt;
use std::path::{Path, PathBuf};

/// A connection string that does not name a usable SQLite file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqliteLocationError {
    /// Not `sqlite://PATH` or `sqlite:PATH`.
    #[error("a SQLite connection string looks like sqlite://PATH (got {0:?})")]
    Scheme(String),
    /// No file named.
    #[error("a SQLite connection string must name a file")]
    Empty,
    /// `:memory:` would give every pooled connection its own empty database.
    #[error("an in-memory SQLite database is not supported: use MemoryStore")]
    InMemory,
    /// A query parameter other than `mode=ro` / `mode=rw`.
    #[error("unknown SQLite connection option {0:?} (only mode=ro or mode=rw)")]
    Option(String),
}

/// Where a [`SqliteStore`](super::SqliteStore) keeps its data: a file (made
/// on first open), read-write or read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteLocation {
    path: PathBuf,
    read_only: bool,
}

impl SqliteLocation {
    /// The file at `path`, read-write.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            read_only: false,
        }
    }

    /// Parses `sqlite://PATH` or `sqlite:PATH`, optionally followed by
    /// `?mode=ro` (open read-only: every write answers
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable)) or
    /// `?mode=rw` (the default). `sqlite:///srv/convo.db` is the absolute
    /// path `/srv/convo.db`; `sqlite://convo.db` is relative to the working
    /// directory.
    pub fn parse(text: &str) -> Result<Self, SqliteLocationError> {
        let rest = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .ok_or_else(|| SqliteLocationError::Scheme(text.to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(SqliteLocationError::Empty);
        }
        if path == ":memory:" || path.starts_with("file::memory:") {
            return Err(SqliteLocationError::InMemory);
        }
        let mut read_only = false;
        for option in query.split('&').filter(|o| !o.is_empty()) {
            match option {
                "mode=ro" => read_only = true,
                "mode=rw" => read_only = false,
                other => return Err(SqliteLocationError::Option(other.to_owned())),
            }
        }
        Ok(Self {
            path: PathBuf::from(path),
            read_only,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store opens the file read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

impl fmt::Display for SqliteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sqlite://{}", self.path.display())?;
        if self.read_only {
            f.write_str("?mode=ro")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SqliteLocation {
    type Err = SqliteLocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_parse_into_a_path_and_a_mode() {
        let cases = [
            ("sqlite:///srv/convo.db", "/srv/convo.db", false),
            ("sqlite://convo.db", "convo.db", false),
            ("sqlite:data/convo.db", "data/convo.db", false),
            ("sqlite:///srv/convo.db?mode=ro", "/srv/convo.db", true),
            ("sqlite://convo.db?mode=rw", "convo.db", false),
        ];
        for (text, path, read_only) in cases {
            let parsed = SqliteLocation::parse(text);
            assert_eq!(
                parsed,
                Ok(SqliteLocation {
                    path: PathBuf::from(path),
                    read_only
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_connection_strings_are_refused_with_a_reason() {
        let cases = [
            (
                "/srv/convo.db",
                SqliteLocationError::Scheme("/srv/convo.db".into()),
            ),
            (
                "mongodb://x/db",
                SqliteLocationError::Scheme("mongodb://x/db".into()),
            ),
            ("sqlite://", SqliteLocationError::Empty),
            ("sqlite://?mode=ro", SqliteLocationError::Empty),
            ("sqlite::memory:", SqliteLocationError::InMemory),
            ("sqlite://:memory:", SqliteLocationError::InMemory),
            (
                "sqlite://x.db?cache=shared",
                SqliteLocationError::Option("cache=shared".into()),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(SqliteLocation::parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn a_location_displays_as_the_connection_string_it_parses_from() {
        for text in ["sqlite:///srv/convo.db", "sqlite://convo.db?mode=ro"] {
            let parsed = SqliteLocation::parse(text).map(|l| l.to_string());
            assert_eq!(parsed.as_deref(), Ok(text));
        }
    }
}
