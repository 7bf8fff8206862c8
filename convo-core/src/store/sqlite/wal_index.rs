//! Whether any process committed to the database since the last look, in
//! nanoseconds and without a query: the header of SQLite's WAL index, the
//! shared memory (the `-shm` file) that every connection to the database,
//! in every process, maps.
//!
//! Every commit in WAL mode rewrites that header (a change counter, the
//! last valid frame, the page count, checksums) before the commit returns,
//! and a connection starting a read compares it with the header it saw
//! last to learn whether the database changed. [`WalIndex`] does the same
//! for the store's [`ChangeFeed`](crate::store::ChangeFeed): authentication
//! answers are kept in memory and dropped whenever anything was committed,
//! so a request that finds nothing committed since the last one asks the
//! database nothing, and a revocation made by any process holds on the very
//! next request everywhere. (Any commit counts, a new message as much as a
//! revocation: under writes the kept answers are dropped often, which only
//! costs the reads the store made before it kept any.)
//!
//! The header's layout and protocol: <https://www.sqlite.org/walformat.html>,
//! "2.1 The WAL-Index Header" (read 2026-12-02), and `walIndexTryHdr` /
//! `walIndexWriteHdr` in the bundled SQLite 3.50: two copies of the 48-byte
//! header at offsets 0 and 48, written second copy first with a memory
//! barrier between; a reader reads the first copy, then (after a barrier)
//! the second, and takes equal copies with `isInit` set as a consistent
//! header. Unequal copies (a commit under way) answer
//! [`Probed::Unknown`], and the kept answers are not used.
//!
//! The mapping stays valid only while the `-shm` file is not truncated or
//! rebuilt. SQLite does that only when a connection opens the database
//! while no other connection, in any process, has it open (its
//! "dead-man switch" lock), so [`WalIndex`] keeps a connection of its own
//! open for as long as the mapping lives.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use memmap2::{Mmap, MmapOptions};
use rusqlite::Connection;

use crate::store::{ChangeProbe, Probed};

/// 32-bit words in one copy of the header (48 bytes).
const WORDS: usize = 12;
/// Both copies, in bytes.
const HEADER_BYTES: usize = 2 * WORDS * 4;
/// The header format this module reads (`iVersion`, SQLite's
/// `WALINDEX_MAX_VERSION` since 3.7.0).
const FORMAT: u32 = 3_007_000;

/// The WAL index of one database, mapped read-only.
pub(super) struct WalIndex {
    /// Declared before `_keep`: unmapped before that connection closes.
    map: Mmap,
    /// Keeps the `-shm` file from being reset while it is mapped (never
    /// used otherwise; a mutex only to make the index `Sync`).
    _keep: Mutex<Connection>,
    /// The header seen at the last probe.
    seen: Mutex<Option<[u32; WORDS]>>,
}

impl fmt::Debug for WalIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalIndex").finish_non_exhaustive()
    }
}

impl WalIndex {
    /// Maps the WAL index of the database at `path`, opened as `name` (the
    /// name the pools open). `None` when there is none to map (not in WAL
    /// mode, a read-only file whose index SQLite keeps in private memory)
    /// or its header is not the format this module reads: the store then
    /// keeps no answers and every request asks the database. Blocking.
    pub(super) fn open(path: &Path, name: &str) -> Option<Self> {
        let keep = Connection::open(name).ok()?;
        let mode: String = keep
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        // A read opens the index (initializing it if need be) and takes
        // the shared lock that keeps other connections from resetting it.
        keep.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .ok()?;
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        // Opened for writing (though only read): SQLite's connection then
        // could too, so it uses this file and holds its lock on it, rather
        // than an index in private memory (which it falls back to when it
        // cannot write the file), beside a file another process may reset.
        let file = File::options().read(true).write(true).open(&shm).ok()?;
        if file.metadata().ok()?.len() < HEADER_BYTES as u64 {
            return None;
        }
        // SAFETY: a file mapping is unsound only if the file shrinks under
        // it (access past its end faults) or its bytes are read as Rust
        // values another writer can change mid-read. SQLite never shrinks
        // the `-shm` file while a connection holds the lock `_keep` holds
        // (see the module doc), and `header` reads the bytes only as
        // atomics, checking the two copies against each other as SQLite does.
        let map = unsafe { MmapOptions::new().len(HEADER_BYTES).map(&file) }.ok()?;
        let index = Self {
            map,
            _keep: Mutex::new(keep),
            seen: Mutex::new(None),
        };
        index.header().filter(|h| h[0] == FORMAT)?;
        Some(index)
    }

    /// The header, if both copies agree and it is initialized.
    fn header(&self) -> Option<[u32; WORDS]> {
        let base = self.map.as_ptr().cast::<AtomicU32>();
        let word = |i: usize| {
            debug_assert!(i < 2 * WORDS);
            // SAFETY: the mapping is page-aligned and HEADER_BYTES long, so
            // word `i` (< 2 * WORDS) is in bounds and 4-byte aligned. It is
            // only ever loaded here, atomically; other processes store to
            // it, which atomic loads of a lock-free size tolerate.
            unsafe { &*base.add(i) }.load(Ordering::Relaxed)
        };
        let first: [u32; WORDS] = std::array::from_fn(word);
        // SQLite's `walShmBarrier` between the copies: the second copy is
        // written first, so a first copy seen new means a second one too.
        fence(Ordering::Acquire);
        let second: [u32; WORDS] = std::array::from_fn(|i| word(WORDS + i));
        // `isInit` is the header's byte 12: the first byte of word 3.
        let initialized = first[3].to_ne_bytes()[0] != 0;
        (first == second && initialized).then_some(first)
    }
}

impl ChangeProbe for WalIndex {
    fn probe(&self) -> Probed {
        let now = self.header();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match now {
            None => {
                *seen = None;
                Probed::Unknown
            }
            Some(now) if seen.as_ref() == Some(&now) => Probed::Same,
            Some(now) => {
                *seen = Some(now);
                Probed::Changed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp_db() -> PathBuf {
        super::super::tests::temp_db("wal-index")
    }

    fn wal_database(path: &Path) -> Connection {
        let conn = Connection::open(path).expect("open");
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .expect("WAL");
        conn.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("create");
        conn
    }

    fn index(path: &Path) -> WalIndex {
        WalIndex::open(path, &path.to_string_lossy()).expect("a WAL database has an index")
    }

    #[test]
    fn a_commit_through_any_connection_changes_the_header_and_a_read_does_not() {
        let path = temp_db();
        let first = wal_database(&path);
        let index = index(&path);
        assert_eq!(
            index.probe(),
            Probed::Changed,
            "the first look sees a header"
        );
        assert_eq!(index.probe(), Probed::Same, "nothing committed since");

        let other = Connection::open(&path).expect("open a second connection");
        let rows: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(rows, 0);
        assert_eq!(index.probe(), Probed::Same, "a read commits nothing");

        other
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        assert_eq!(
            index.probe(),
            Probed::Changed,
            "another connection's commit"
        );
        assert_eq!(index.probe(), Probed::Same);

        first
            .execute("INSERT INTO t VALUES (2)", [])
            .expect("insert");
        assert_eq!(
            index.probe(),
            Probed::Changed,
            "the first connection's commit"
        );

        // A transaction rolled back commits nothing.
        first
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (3); ROLLBACK;")
            .expect("rolled back");
        assert_eq!(index.probe(), Probed::Same, "a rollback commits nothing");
    }

    #[test]
    fn a_database_not_in_wal_mode_has_no_index() {
        let path = temp_db();
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("create");
        assert!(
            WalIndex::open(&path, &path.to_string_lossy()).is_none(),
            "a rollback-journal database keeps no WAL index"
        );
    }

    #[test]
    fn a_header_whose_copies_differ_is_unknown() {
        let path = temp_db();
        let _db = wal_database(&path);
        let index = index(&path);
        assert_eq!(index.probe(), Probed::Changed);
        // Tear the header as a commit under way would leave it: the second
        // copy rewritten, the first not yet (through a writable mapping of
        // the same file, as another process would).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("{}-shm", path.display()))
            .expect("open the -shm file");
        // SAFETY: the test's own mapping of a file SQLite keeps at least
        // this long while `_db` and `index` hold it open.
        let mut map = unsafe { MmapOptions::new().len(HEADER_BYTES).map_mut(&file) }
            .expect("map it writable");
        let at = WORDS * 4 + 8; // the second copy's change counter
        let counter = u32::from_ne_bytes(map[at..at + 4].try_into().expect("4 bytes"));
        map[at..at + 4].copy_from_slice(&counter.wrapping_add(1).to_ne_bytes());
        assert_eq!(index.probe(), Probed::Unknown, "torn: not to be trusted");
        map[at..at + 4].copy_from_slice(&counter.to_ne_bytes());
        assert_eq!(
            index.probe(),
            Probed::Changed,
            "after an unknown look, the next consistent one counts as a change"
        );
    }

    /// Through the engine, on two handles of one file: an answer is kept
    /// while nothing is committed, and dropped by the next look after any
    /// commit, a revocation through the other handle included.
    #[cfg(feature = "testkit")]
    #[tokio::test]
    async fn a_kept_answer_lasts_until_any_handle_commits() {
        use std::sync::Arc;

        use crate::domain::now;
        use crate::engine::Settings;
        use crate::llm::MockProvider;
        use crate::store::sqlite::SqliteStore;
        use crate::store::Store;
        use crate::testkit::{unique_email, user};
        use crate::Convo;

        let path = temp_db();
        let a = SqliteStore::open(&path).await.expect("open handle A");
        let b = SqliteStore::open(&path).await.expect("open handle B");
        let on_b = Convo::new(
            Arc::new(b.clone()),
            Arc::new(MockProvider::new()),
            Settings::default(),
        );
        let u = user(&unique_email());
        a.insert_user(&u).await.expect("insert_user");
        let jti = uuid::Uuid::new_v4().to_string();
        let feed = b.changes().expect("a file in WAL mode keeps answers");

        let found = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
        assert_eq!(found.as_ref(), Some(&u));
        assert_eq!(feed.user(&u.id, &jti).as_ref(), Some(&u), "kept");
        assert_eq!(
            feed.user(&u.id, &jti).as_ref(),
            Some(&u),
            "still kept: nothing was committed"
        );

        a.insert_user(&user(&unique_email()))
            .await
            .expect("an unrelated commit");
        assert_eq!(feed.user(&u.id, &jti), None, "any commit drops it");

        let found = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
        assert_eq!(found.as_ref(), Some(&u), "read again, and kept again");
        a.revoke_token(&jti, now() + chrono::TimeDelta::hours(1))
            .await
            .expect("revoke_token through A");
        let found = on_b.authenticate(&u.id, &jti).await.expect("authenticate");
        assert_eq!(found, None, "B refuses the token on its very next call");
    }
}
