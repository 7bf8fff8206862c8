//! The signing secret kept beside a SQLite database when `CONVO_JWT_SECRET`
//! is not set: generated once, so logins survive restarts with nothing to
//! configure, and shared by every server on the same file.
//!
//! The file holds one line, the secret as `CONVO_JWT_SECRET` would (64
//! base64 characters of 48 random bytes from the OS): copying it into
//! `CONVO_JWT_SECRET` keeps every issued token valid.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::TryRngCore;

use crate::config::MIN_JWT_SECRET_CHARS;

/// Random bytes in a generated secret: 384 bits, above HS256's 256.
const SECRET_BYTES: usize = 48;

/// Why the kept secret could be neither read nor made.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file exists but cannot be read.
    #[error("cannot read the JWT signing secret in {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A new file could not be written (e.g. a read-only directory).
    #[error("cannot keep a JWT signing secret in {path} ({source}); set CONVO_JWT_SECRET instead")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The OS could not supply random bytes.
    #[error("no randomness from the OS for a JWT signing secret: {0}")]
    Random(String),
    /// The file holds too short a secret (edited by hand, or truncated).
    #[error(
        "the JWT signing secret in {path} has {chars} characters, under {MIN_JWT_SECRET_CHARS}: \
         fix it, or delete the file to generate a new one (which logs everyone out)"
    )]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its length, in characters (the secret itself is never shown).
        chars: usize,
    },
}

/// A secret read from its file or just written to it.
pub struct KeptSecret {
    /// The secret, as `CONVO_JWT_SECRET` would hold it.
    pub secret: String,
    /// Whether this call generated it (else it was there already).
    pub generated: bool,
}

/// Where the secret of the database at `database` is kept: `<file>.jwt-secret`.
pub fn secret_file_beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".jwt-secret");
    PathBuf::from(name)
}

/// Reads the secret kept at `path`, or generates one and keeps it there.
///
/// A new file is written whole under a temporary name (mode 0600 from its
/// creation), synced, then published under `path` with a hard link, which,
/// unlike a rename, never replaces a file: when two servers start on a new
/// database at once, one publishes and the other reads that one's secret.
pub fn kept_secret(path: &Path) -> Result<KeptSecret, SecretFileError> {
    match read(path) {
        Ok(secret) => {
            return Ok(KeptSecret {
                secret,
                generated: false,
            })
        }
        Err(SecretFileError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = generate()?;
    let write_error = |source| SecretFileError::Write {
        path: path.to_owned(),
        source,
    };
    let temporary = temporary_beside(path);
    let published = write_new(&temporary, &secret).and_then(|()| publish(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match published {
        Ok(()) => {
            sync_parent(path).map_err(write_error)?;
            Ok(KeptSecret {
                secret,
                generated: true,
            })
        }
        // Another process published first: its secret is the one.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(KeptSecret {
            secret: read(path)?,
            generated: false,
        }),
        Err(e) => Err(write_error(e)),
    }
}

fn read(path: &Path) -> Result<String, SecretFileError> {
    let text = fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    warn_if_others_can_read(path);
    let secret = text.trim().to_owned();
    let chars = secret.chars().count();
    if chars < MIN_JWT_SECRET_CHARS {
        return Err(SecretFileError::TooShort {
            path: path.to_owned(),
            chars,
        });
    }
    Ok(secret)
}

fn generate() -> Result<String, SecretFileError> {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| SecretFileError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A name in the same directory (a link cannot cross file systems), unique
/// to this process and call.
fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    PathBuf::from(name)
}

/// Creates `path` (never an existing file), readable and writable by its
/// owner only from the start, holding `secret`, synced to disk.
fn write_new(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Gives the written `temporary` its final name, unless that name exists.
fn publish(temporary: &Path, path: &Path) -> std::io::Result<()> {
    match fs::hard_link(temporary, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(e),
        // A file system without hard links: a rename is atomic too, only
        // not exclusive (the simultaneous-start race above is then open).
        Err(_) if !path.exists() => fs::rename(temporary, path),
        Err(e) => Err(e),
    }
}

/// Syncs the directory entry, so the secret survives a power cut along with
/// the database that needs it.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Warns (without refusing) when group or others may read the secret, as
/// ssh does for a private key.
fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{mode:o}"),
                    "the JWT signing secret file is readable by other users: chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("convo-secret-{}", uuid::Uuid::now_v7().simple()));
        fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn the_secret_file_sits_beside_the_database() {
        assert_eq!(
            secret_file_beside(Path::new("/srv/convo.db")),
            PathBuf::from("/srv/convo.db.jwt-secret")
        );
        assert_eq!(
            secret_file_beside(Path::new("convo.db")),
            PathBuf::from("convo.db.jwt-secret")
        );
    }

    #[test]
    fn a_secret_is_generated_once_then_read_back() {
        let dir = temp_dir();
        let path = dir.join("convo.db.jwt-secret");

        let first = kept_secret(&path).expect("generated");
        let second = kept_secret(&path).expect("read");

        assert!(first.generated && !second.generated);
        assert_eq!(first.secret, second.secret);
        assert_eq!(first.secret.len(), 64, "48 bytes in base64");
        assert!(first.secret.chars().count() >= MIN_JWT_SECRET_CHARS);
        let left: Vec<_> = fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "owner only: {mode:o}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn two_secrets_are_never_the_same() {
        let (a, b) = (generate().expect("a"), generate().expect("b"));
        assert_ne!(a, b);
    }

    #[test]
    fn an_existing_secret_is_never_replaced() {
        let dir = temp_dir();
        let path = dir.join("x.db.jwt-secret");
        let existing = "an-operator-written-secret-0123456789-abcdef";
        fs::write(&path, format!("{existing}\n")).expect("write");

        let kept = kept_secret(&path).expect("read");

        assert_eq!((kept.secret.as_str(), kept.generated), (existing, false));
        let temporary = temporary_beside(&path);
        write_new(&temporary, "another-secret-another-secret-another").expect("temp");
        let refused = publish(&temporary, &path).expect_err("the name is taken");
        assert_eq!(refused.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read_to_string(&path).expect("read").trim(),
            existing,
            "the published secret is untouched"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_truncated_secret_is_refused_without_showing_it() {
        let dir = temp_dir();
        let path = dir.join("x.db.jwt-secret");
        fs::write(&path, "short-secret\n").expect("write");

        let message = kept_secret(&path)
            .map(|_| ())
            .expect_err("refused")
            .to_string();

        assert!(message.contains("12 characters"), "{message}");
        assert!(!message.contains("short-secret"), "{message}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_reported_with_the_way_out() {
        let path = Path::new("/nonexistent-convo-dir/x.db.jwt-secret");

        let message = kept_secret(path)
            .map(|_| ())
            .expect_err("refused")
            .to_string();

        assert!(
            message.contains("/nonexistent-convo-dir/x.db.jwt-secret")
                && message.contains("CONVO_JWT_SECRET"),
            "{message}"
        );
    }
}
