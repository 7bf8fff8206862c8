//! A capture of the process's log lines, for tests that check what the
//! server logs. Shared by the test binaries through `#[path]`.
//!
//! Under cargo-nextest (`scripts/test.sh`) each test is a process of its
//! own, so the capture is the only subscriber; under `cargo test` another
//! test may have installed one first, and [`LogCapture::install`] says so.

/// A writer into a shared buffer that the tracing subscriber writes to.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Installs a capture as the process's subscriber; `None` when another
    /// subscriber was there first (nothing can then be checked).
    pub fn install() -> Option<Self> {
        let captured = Self::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .is_ok()
            .then_some(captured)
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits (at most ~10 s) for a line containing `needle`.
    #[allow(dead_code)] // not every test binary waits
    pub async fn line_with(&self, needle: &str) -> Option<String> {
        for _ in 0..200 {
            if let Some(line) = self.text().lines().find(|l| l.contains(needle)) {
                return Some(line.to_owned());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}
