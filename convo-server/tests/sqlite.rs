//! The server on its default store, a SQLite file, as a process: data and
//! logins survive a restart with nothing configured; a file from a newer
//! Convo is refused at start; a file that cannot be written answers 503
//! `store_unavailable`, and so does a full disk; writes resume once they can.
//! Needs nothing but the binary (a full disk also needs root, to mount a
//! small tmpfs; the two-server and `kill -9` cases are in `multi_process.rs` and
//! `faults.rs`).

mod common;

use std::process::Command;

use common::fixture::PASSWORD;
use common::{
    command, get, new_client, post, server_command, session_for_new_user, Server, TempDir,
};
use serde_json::{json, Value};

/// A server in `dir` with no store and no secret configured: the README's
/// first command, run there.
fn start_with_defaults(dir: &TempDir) -> Server {
    let mut cmd = server_command(&[]);
    cmd.current_dir(&dir.path).env_remove("CONVO_STORE");
    Server::spawn(cmd)
}

/// Stops `server` with SIGTERM and waits for it to exit cleanly.
fn stop(mut server: Server) {
    server.terminate();
    let status = server.child.wait().expect("exit");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}

/// The contents of a session's messages, in order.
async fn contents(client: &reqwest::Client, server: &Server, session: &str) -> Vec<String> {
    let (status, history) = get(client, server.url(&format!("/api/chat/{session}/messages"))).await;
    assert_eq!(status, 200, "{history}");
    history["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

/// The startup log line whose message contains `words`, parsed.
fn log_line(server: &Server, words: &str) -> Value {
    server
        .startup_log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(words))
        })
        .unwrap_or_else(|| panic!("no {words:?} in the log: {:#?}", server.startup_log))
}

#[tokio::test]
async fn with_nothing_configured_data_and_logins_survive_a_restart() {
    // Arrange: the default store, no CONVO_JWT_SECRET.
    let dir = TempDir::new("sqlite-restart");
    let database = dir.path.join("convo.db");
    let secret_file = dir.path.join("convo.db.jwt-secret");
    let first = start_with_defaults(&dir);
    let store = log_line(&first, "store: SQLite");
    assert_eq!(
        store["fields"]["path"].as_str(),
        database.to_str(),
        "the log names the file, absolute"
    );
    let generated = log_line(&first, "generated a signing secret");
    assert_eq!(generated["fields"]["path"].as_str(), secret_file.to_str());
    let browser = new_client();
    let session = session_for_new_user(&browser, &first, "keep@example.com").await;
    let (status, _) = post(
        &browser,
        first.url(&format!("/api/chat/{session}/message")),
        json!({"content": "remember me"}),
    )
    .await;
    assert_eq!(status, 201);

    // Act
    stop(first);
    let second = start_with_defaults(&dir);

    // Assert: the secret was kept, owner-only, and never logged.
    let secret = std::fs::read_to_string(&secret_file).expect("the secret file");
    let secret = secret.trim();
    assert!(secret.len() >= 32, "a full-length secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the secret file is the owner's only: {mode:o}");
    }
    log_line(&second, "using the signing secret kept");
    for line in &second.startup_log {
        assert!(!line.contains(secret), "the secret leaked: {line}");
    }
    // The cookie issued before the restart still works...
    let (status, me) = get(&browser, second.url("/api/auth/me")).await;
    assert_eq!(status, 200, "a login from before the restart: {me}");
    // ...and the user, with the same password, finds the conversation.
    let again = new_client();
    let (status, body) = post(
        &again,
        second.url("/api/auth/login"),
        json!({"email": "keep@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "log in after the restart: {body}");
    assert_eq!(
        contents(&again, &second, &session).await,
        ["remember me", "echo: remember me"]
    );
}

/// The file's schema version (`PRAGMA user_version`).
fn schema_version(database: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(database).expect("open");
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

#[test]
fn a_database_from_a_newer_convo_is_refused_at_start_naming_both_versions() {
    // Arrange: a database made by this build, then stamped one version ahead.
    let dir = TempDir::new("sqlite-newer");
    let database = dir.path.join("convo.db");
    let uri = dir.sqlite_uri("convo.db");
    stop(Server::start(&[("CONVO_STORE", &uri)]));
    let known = schema_version(&database);
    let newer = known + 1;
    rusqlite::Connection::open(&database)
        .and_then(|c| c.execute_batch(&format!("PRAGMA user_version = {newer}")))
        .expect("stamp a newer version");

    // Act
    let out = command(&[("CONVO_LISTEN", "127.0.0.1:0"), ("CONVO_STORE", &uri)])
        .output()
        .expect("run");

    // Assert
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(
        stderr.contains(&format!("schema version {newer}"))
            && stderr.contains(&format!("versions up to {known}"))
            && stderr.contains(&database.display().to_string()),
        "the refusal names the file and both versions: {stderr}"
    );
    assert_eq!(schema_version(&database), newer, "the file is left alone");
}

#[tokio::test]
async fn a_database_opened_read_only_serves_reads_and_answers_writes_with_503() {
    // Arrange: data written by a server, then the file reopened `?mode=ro`.
    let dir = TempDir::new("sqlite-ro");
    let uri = dir.sqlite_uri("convo.db");
    let writer = Server::start(&[("CONVO_STORE", &uri)]);
    let c = new_client();
    let session = session_for_new_user(&c, &writer, "ro@example.com").await;
    let send = |server: &Server, content: &str| {
        post(
            &c,
            server.url(&format!("/api/chat/{session}/message")),
            json!({ "content": content }),
        )
    };
    assert_eq!(send(&writer, "written").await.0, 201);
    stop(writer);
    let read_only_uri = format!("{uri}?mode=ro");
    let reader = Server::start(&[("CONVO_STORE", &read_only_uri)]);

    // Act
    let (status, body) = send(&reader, "refused").await;

    // Assert
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(
        contents(&c, &reader, &session).await,
        ["written", "echo: written"],
        "reads still work, and the refused send left nothing"
    );
    // Opened read-write again, the same file takes writes.
    stop(reader);
    let writer = Server::start(&[("CONVO_STORE", &uri)]);
    assert_eq!(send(&writer, "again").await.0, 201);
}

/// Files made immutable (`chattr +i`: even root cannot write them) until
/// [`Immutable::release`] or the drop, so a failed test leaves its temp
/// directory removable.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    /// Makes `files` immutable, or `None` when the file system or the user
    /// cannot (chattr needs root and ext4, xfs, btrfs…).
    fn try_new(files: Vec<std::path::PathBuf>) -> Option<Self> {
        let done = Command::new("chattr")
            .arg("+i")
            .args(&files)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Self(files);
        done.then_some(guard)
    }

    fn release(&mut self) {
        if !self.0.is_empty() {
            let status = Command::new("chattr").arg("-i").args(&self.0).status();
            assert!(status.is_ok_and(|s| s.success()), "chattr -i");
            self.0.clear();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("chattr").arg("-i").args(&self.0).status();
        }
    }
}

#[tokio::test]
async fn a_database_file_that_cannot_be_written_answers_503_and_writes_resume_when_it_can() {
    // Arrange: a running server with a conversation in its file.
    let dir = TempDir::new("sqlite-immutable");
    let uri = dir.sqlite_uri("convo.db");
    let server = Server::start(&[("CONVO_STORE", &uri)]);
    let c = new_client();
    let session = session_for_new_user(&c, &server, "full@example.com").await;
    let send = |content: &str| {
        post(
            &c,
            server.url(&format!("/api/chat/{session}/message")),
            json!({ "content": content }),
        )
    };
    assert_eq!(send("before").await.0, 201);
    // WAL: a commit appends to convo.db-wal, a checkpoint writes convo.db.
    let files = ["convo.db", "convo.db-wal"].map(|f| dir.path.join(f));
    let Some(mut immutable) = Immutable::try_new(files.to_vec()) else {
        eprintln!("\n*** SKIPPED: chattr +i is not possible here (needs root on ext4/xfs/btrfs); the ?mode=ro test covers the 503 ***\n");
        return;
    };

    // Act: the server keeps running while its files cannot be written.
    let (status, body) = send("during").await;
    let (project_status, _) = post(&c, server.url("/api/projects"), json!({"name": "p"})).await;
    let during = contents(&c, &server, &session).await;
    immutable.release();
    let (after_status, after_body) = send("after").await;

    // Assert
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "a send while the file cannot be written: {body}"
    );
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(project_status, 503, "any write");
    assert_eq!(during, ["before", "echo: before"], "reads still work");
    assert_eq!(
        after_status, 201,
        "writes resume without a restart: {after_body}"
    );
    assert_eq!(
        contents(&c, &server, &session).await,
        ["before", "echo: before", "after", "echo: after"],
        "nothing acknowledged was lost, nothing refused was kept"
    );
}

/// A small tmpfs mounted on a directory until the drop (a lazy unmount, so
/// a failed test leaves nothing mounted), filled to the last byte by
/// [`FullDisk::fill`] and given room again by [`FullDisk::free`].
struct FullDisk {
    dir: std::path::PathBuf,
    filler: std::path::PathBuf,
}

impl FullDisk {
    /// Mounts a `size`-byte tmpfs on `dir`, or `None` when this user may
    /// not mount (it needs root, as the CI run has).
    fn try_mount(dir: std::path::PathBuf, size: u64) -> Option<Self> {
        std::fs::create_dir_all(&dir).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let filler = dir.join("filler");
        mounted.then_some(Self { dir, filler })
    }

    /// Writes a file until the file system answers "no space left".
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(&self.filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // What is left is less than a block: write it byte by byte.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
    }

    /// Deletes the filler.
    fn free(&self) {
        std::fs::remove_file(&self.filler).expect("remove the filler");
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_loses_nothing_acknowledged_and_writes_resume_when_there_is_room() {
    // Arrange: the database on a small file system of its own.
    let dir = TempDir::new("sqlite-full");
    let Some(disk) = FullDisk::try_mount(dir.path.join("disk"), 16 * 1024 * 1024) else {
        eprintln!("\n*** SKIPPED: mounting a tmpfs needs root (the CI run has it); the read-only tests cover the 503 ***\n");
        return;
    };
    let uri = format!("sqlite://{}", disk.dir.join("convo.db").display());
    let server = Server::start(&[("CONVO_STORE", &uri)]);
    let c = new_client();
    let session = session_for_new_user(&c, &server, "disk@example.com").await;
    let send = |content: String| {
        post(
            &c,
            server.url(&format!("/api/chat/{session}/message")),
            json!({ "content": content }),
        )
    };
    assert_eq!(send("before".into()).await.0, 201);

    // Act: fill the disk, then send until a write needs room that is not
    // there. (A write may still fit into space SQLite already holds, such
    // as a recycled WAL, so the first sends can succeed; each is 64 KiB
    // twice over, and 64 of them need more than the file system has.)
    disk.fill();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..64 {
        let content = format!("during {i} {}", "x".repeat(64 * 1024));
        let (status, body) = send(content.clone()).await;
        if status == 201 {
            acknowledged.push(content);
        } else {
            refused = Some((status, body, content));
            break;
        }
    }
    let during = contents(&c, &server, &session).await;
    disk.free();
    let (after_status, after_body) = send("after".into()).await;

    // Assert
    let (status, body, refused_content) = refused.expect("a send refused once the disk is full");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "a send while the disk is full: {body}"
    );
    assert_eq!(body["error"]["retryable"], true);
    assert!(
        during.len() >= 2 && during[..2] == ["before", "echo: before"],
        "reads still work on a full disk: {:?}",
        &during
            .iter()
            .map(|c| &c[..c.len().min(20)])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        after_status, 201,
        "writes resume without a restart once there is room: {after_body}"
    );
    let mut expected = vec!["before".to_owned(), "echo: before".to_owned()];
    for content in &acknowledged {
        expected.push(content.clone());
        expected.push(format!("echo: {content}"));
    }
    expected.extend(["after".to_owned(), "echo: after".to_owned()]);
    let history = contents(&c, &server, &session).await;
    assert!(
        !history.contains(&refused_content),
        "the refused message was not kept"
    );
    assert_eq!(
        history, expected,
        "every acknowledged message is there, once, in order"
    );
}
