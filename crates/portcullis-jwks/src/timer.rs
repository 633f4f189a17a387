//! Where the cache's time comes from. TTLs, staleness, the unknown-`kid` budget and the retry
//! backoff all read an injected [`Timer`], so tests move time by hand with a [`ManualTimer`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use portcullis_jwks::{ManualTimer, Timer};
//!
//! let timer = ManualTimer::new();
//! let wake = timer.sleep_until(Duration::from_secs(30));
//! timer.advance(Duration::from_secs(30)); // the sleeper's deadline has passed
//! wake.await;
//! assert_eq!(timer.now(), Duration::from_secs(30));
//! # }
//! ```
//!
//! HTTP timeouts are not part of this: they are real time, enforced by the HTTP client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// A future that completes at a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A monotonic clock for the cache rules, and a way to wait for one of its instants.
///
/// Instants are [`Duration`]s since the timer's own origin (only differences matter).
pub trait Timer: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Duration;

    /// A future that completes once [`Timer::now`] has reached `deadline` (at once if it
    /// already has).
    fn sleep_until(&self, deadline: Duration) -> Sleep;
}

/// Real time, from tokio's clock (so `tokio::time::pause` applies too). The default.
#[derive(Debug, Clone, Copy)]
pub struct TokioTimer {
    origin: tokio::time::Instant,
}

impl TokioTimer {
    /// A timer whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        TokioTimer {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        TokioTimer::new()
    }
}

impl Timer for TokioTimer {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let at = self.origin.checked_add(deadline);
        Box::pin(async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                // A deadline beyond what the platform's clock can hold never comes.
                None => std::future::pending().await,
            }
        })
    }
}

/// A timer that moves only when told to; clones share the same time and sleepers.
///
/// [`ManualTimer::advance`] wakes every sleeper whose deadline has passed.
#[derive(Clone)]
pub struct ManualTimer {
    now: Arc<watch::Sender<Duration>>,
}

impl ManualTimer {
    /// A timer at instant zero.
    #[must_use]
    pub fn new() -> Self {
        let (now, _) = watch::channel(Duration::ZERO);
        ManualTimer { now: Arc::new(now) }
    }

    /// Moves the time forward and wakes the sleepers whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }

    /// The number of sleep futures currently alive (pending or not yet dropped): lets a test
    /// observe that a background task has stopped waiting.
    #[must_use]
    pub fn sleepers(&self) -> usize {
        self.now.receiver_count()
    }
}

impl Default for ManualTimer {
    fn default() -> Self {
        ManualTimer::new()
    }
}

impl Timer for ManualTimer {
    fn now(&self) -> Duration {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // `wait_for` fails only when every `ManualTimer` clone is gone: time will never
            // move again, so neither will this deadline come.
            if now.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

impl fmt::Debug for ManualTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualTimer({:?})", self.now())
    }
}

impl<T: Timer + ?Sized> Timer for Arc<T> {
    fn now(&self) -> Duration {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        (**self).sleep_until(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn poll_once(sleep: &mut Sleep) -> Poll<()> {
        sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test]
    async fn manual_timer_wakes_only_passed_deadlines() {
        let timer = ManualTimer::new();
        let mut early = timer.sleep_until(Duration::from_secs(10));
        let mut late = timer.sleep_until(Duration::from_secs(20));
        assert!(poll_once(&mut early).is_pending());
        assert_eq!(timer.sleepers(), 2);
        timer.clone().advance(Duration::from_secs(10));
        assert!(poll_once(&mut early).is_ready());
        assert!(poll_once(&mut late).is_pending());
        timer.advance(Duration::from_secs(15));
        assert!(poll_once(&mut late).is_ready());
        drop((early, late));
        assert_eq!(timer.sleepers(), 0);
        // A deadline already past completes at once.
        assert!(poll_once(&mut timer.sleep_until(Duration::from_secs(1))).is_ready());
    }
}
