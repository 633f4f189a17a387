//! Capturing what is logged, for tests that check the reasons portcullis logs (and that no
//! token or secret is among them).
//!
//! ```
//! let (logs, _guard) = portcullis_testkit::LogCapture::start();
//! tracing::debug!(target: "portcullis::auth", reason = "expired", "request refused");
//! assert!(logs.text().contains("reason=\"expired\""));
//! ```
//!
//! The subscriber is the current thread's: run the test on a current-thread runtime (the
//! default of `#[tokio::test]`), in a test binary of its own, since `tracing` caches per call
//! site whether anyone listens and tests running beside it on other threads can spoil that.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::subscriber::DefaultGuard;

/// What the current thread's `tracing` subscriber wrote, kept in memory.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures `DEBUG` and above on this thread until the guard is dropped.
    #[must_use]
    pub fn start() -> (LogCapture, DefaultGuard) {
        let logs = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    /// Everything written so far.
    #[must_use]
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCapture").finish_non_exhaustive()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
