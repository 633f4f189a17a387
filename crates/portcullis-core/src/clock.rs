//! Where "now" comes from. Time rules read an injected [`Clock`], so tests move time by hand.
//!
//! ```
//! use portcullis_core::{Clock, ManualClock};
//!
//! let clock = ManualClock::at(1_700_000_000);
//! clock.advance_secs(90);
//! assert_eq!(clock.now_unix(), 1_700_000_090.0);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z, with a fractional part.
    fn now_unix(&self) -> f64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> f64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            // A wall clock before 1970 is broken; report it as the epoch (everything expires).
            Err(_) => 0.0,
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `unix_secs`.
    #[must_use]
    pub fn at(unix_secs: i64) -> Self {
        ManualClock {
            millis: Arc::new(AtomicI64::new(unix_secs.saturating_mul(1000))),
        }
    }

    /// A clock reading the system time now, then frozen.
    #[must_use]
    pub fn frozen_now() -> Self {
        let now = SystemClock.now_unix();
        #[allow(clippy::cast_possible_truncation)] // seconds since 1970 fit an i64 for aeons
        ManualClock {
            millis: Arc::new(AtomicI64::new((now * 1000.0) as i64)),
        }
    }

    /// Sets the time.
    pub fn set(&self, unix_secs: i64) {
        self.millis
            .store(unix_secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative value).
    pub fn advance_secs(&self, secs: i64) {
        self.millis
            .fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Moves the time forward by milliseconds.
    pub fn advance_millis(&self, millis: i64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    #[allow(clippy::cast_precision_loss)] // millisecond timestamps are far below 2^53
    fn now_unix(&self) -> f64 {
        self.millis.load(Ordering::SeqCst) as f64 / 1000.0
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualClock({})", self.now_unix())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_unix(&self) -> f64 {
        (**self).now_unix()
    }
}
