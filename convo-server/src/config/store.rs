//! [`StoreChoice`]: what `CONVO_STORE` asks for, parsed once at the edge so
//! that validation, start-up and the signing-secret file read one answer.

use convo_core::store::SqliteLocationError;
use convo_core::SqliteLocation;

use super::StoreUri;

/// `CONVO_STORE`'s default: a SQLite file in the working directory, so the
/// first `cargo run` keeps its data across restarts with nothing to set up.
pub const DEFAULT_STORE: &str = "sqlite://convo.db";

/// Which store a [`StoreUri`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The in-memory store: everything is lost when the process stops.
    Memory,
    /// A SQLite file (`sqlite://PATH`).
    Sqlite(SqliteLocation),
    /// A MongoDB deployment (`mongodb://` or `mongodb+srv://`, with a host).
    Mongo,
}

/// Why a [`StoreUri`] names no usable store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreChoiceError {
    /// A `sqlite:` string that does not parse.
    #[error("{0}")]
    Sqlite(#[from] SqliteLocationError),
    /// A `mongodb://` URI without a host.
    #[error("a mongodb:// (or mongodb+srv://) URI needs a host")]
    MongoHost,
    /// None of the known schemes.
    #[error("`memory`, sqlite://PATH, or a mongodb:// (or mongodb+srv://) URI with a host")]
    Unknown,
}

impl StoreUri {
    /// Which store this names, or why it names none.
    pub fn choice(&self) -> Result<StoreChoice, StoreChoiceError> {
        let uri = self.as_str();
        if self.is_memory() {
            return Ok(StoreChoice::Memory);
        }
        if uri.starts_with("sqlite:") {
            return Ok(StoreChoice::Sqlite(SqliteLocation::parse(uri)?));
        }
        let host = ["mongodb://", "mongodb+srv://"]
            .iter()
            .find_map(|scheme| uri.strip_prefix(scheme))
            .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
        match host {
            // The host is what follows the user info, if any.
            Some(h) if !h.rsplit('@').next().unwrap_or_default().is_empty() => {
                Ok(StoreChoice::Mongo)
            }
            Some(_) => Err(StoreChoiceError::MongoHost),
            None => Err(StoreChoiceError::Unknown),
        }
    }

    /// The SQLite file this names, if it names one.
    pub fn sqlite(&self) -> Option<SqliteLocation> {
        match self.choice() {
            Ok(StoreChoice::Sqlite(location)) => Some(location),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_names_its_store() {
        let cases = [
            ("memory", Ok(StoreChoice::Memory)),
            (
                DEFAULT_STORE,
                Ok(StoreChoice::Sqlite(SqliteLocation::file("convo.db"))),
            ),
            (
                "sqlite:///srv/convo.db",
                Ok(StoreChoice::Sqlite(SqliteLocation::file("/srv/convo.db"))),
            ),
            ("mongodb://h:27017/db", Ok(StoreChoice::Mongo)),
            (
                "mongodb+srv://u:p@cluster.example/db",
                Ok(StoreChoice::Mongo),
            ),
            ("mongodb:///db", Err(StoreChoiceError::MongoHost)),
            ("mongodb://u:p@/db", Err(StoreChoiceError::MongoHost)),
            (
                "sqlite://",
                Err(StoreChoiceError::Sqlite(SqliteLocationError::Empty)),
            ),
            (
                "sqlite::memory:",
                Err(StoreChoiceError::Sqlite(SqliteLocationError::InMemory)),
            ),
            ("postgres://db", Err(StoreChoiceError::Unknown)),
            ("convo.db", Err(StoreChoiceError::Unknown)),
        ];
        for (uri, expected) in cases {
            assert_eq!(StoreUri::from(uri).choice(), expected, "{uri}");
        }
    }

    #[test]
    fn a_read_only_sqlite_file_keeps_its_mode() {
        let location = StoreUri::from("sqlite://convo.db?mode=ro").sqlite();
        assert_eq!(location.map(|l| l.is_read_only()), Some(true));
        assert_eq!(StoreUri::from("memory").sqlite(), None);
    }
}
