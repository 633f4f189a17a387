//! How a verifier's key sources stand right now, for readiness probes and dashboards.
//!
//! A replica whose keys are gone answers every token with 503; it should leave the load
//! balancer instead. [`Verifier::health`](crate::Verifier::health) reports each source a
//! verifier depends on, by the name it was configured with (never anything a token said):
//! ready, serving stale keys through an outage (still able to verify), or unavailable.
//!
//! ```
//! use std::time::Duration;
//! use portcullis_core::health::{KeyHealth, SourceHealth};
//!
//! let sources = [
//!     SourceHealth::new("https://a.example", KeyHealth::Ready { keys: 2 }),
//!     SourceHealth::new(
//!         "https://b.example",
//!         KeyHealth::Stale { keys: 1, stale_for: Duration::from_secs(600), usable_for: Duration::from_secs(3600) },
//!     ),
//! ];
//! // Stale keys still verify: the replica stays in the load balancer, and the operator is told.
//! assert!(SourceHealth::all_ready(&sources));
//! assert!(!sources[1].state.is_fresh());
//! ```

use std::fmt;
use std::time::Duration;

/// The state of one key source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyHealth {
    /// Keys loaded, within their lifetime.
    Ready {
        /// How many keys the set holds.
        keys: usize,
    },
    /// The last good keys, past their lifetime because refreshes fail, still served until the
    /// source's staleness limit: tokens still verify.
    Stale {
        /// How many keys the set holds.
        keys: usize,
        /// How long past their lifetime the keys are.
        stale_for: Duration,
        /// How long they will still be served if refreshes keep failing.
        usable_for: Duration,
    },
    /// No keys to verify with: none loaded yet, or the last ones are past the staleness limit.
    /// Every token is answered 503 meanwhile.
    Unavailable,
}

impl KeyHealth {
    /// The state of a key set read without any notion of lifetime (static keys, a source
    /// that only says what it holds): ready with keys, unavailable without.
    #[must_use]
    pub fn of_key_count(keys: usize) -> KeyHealth {
        if keys == 0 {
            KeyHealth::Unavailable
        } else {
            KeyHealth::Ready { keys }
        }
    }

    /// Whether tokens can be verified (fresh or stale keys).
    #[must_use]
    pub fn can_verify(&self) -> bool {
        !matches!(self, KeyHealth::Unavailable)
    }

    /// Whether the keys are within their lifetime.
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        matches!(self, KeyHealth::Ready { .. })
    }

    /// A stable word for the state (`ready`, `stale`, `unavailable`), for probes and labels.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyHealth::Ready { .. } => "ready",
            KeyHealth::Stale { .. } => "stale",
            KeyHealth::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for KeyHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyHealth::Ready { keys } => write!(f, "ready ({keys} keys)"),
            KeyHealth::Stale {
                keys,
                stale_for,
                usable_for,
            } => write!(
                f,
                "stale ({keys} keys, past their lifetime for {} s, served for {} s more)",
                stale_for.as_secs(),
                usable_for.as_secs()
            ),
            KeyHealth::Unavailable => f.write_str("unavailable (no keys)"),
        }
    }
}

/// One source's state, under the name it was configured with (an issuer, a JWKS URL).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceHealth {
    /// The configured name: an issuer, a JWKS URL without credentials, `static keys`.
    pub source: Box<str>,
    /// Its state.
    pub state: KeyHealth,
}

impl SourceHealth {
    /// The state of `source`.
    pub fn new(source: impl Into<Box<str>>, state: KeyHealth) -> Self {
        SourceHealth {
            source: source.into(),
            state,
        }
    }

    /// Whether every source can verify tokens: what a readiness probe asks. Vacuously true
    /// for a verifier without key sources (introspection only).
    #[must_use]
    pub fn all_ready(sources: &[SourceHealth]) -> bool {
        sources.iter().all(|s| s.state.can_verify())
    }
}

impl fmt::Display for SourceHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_print_as_documented() {
        let stale = KeyHealth::Stale {
            keys: 3,
            stale_for: Duration::from_secs(61),
            usable_for: Duration::from_secs(7_139),
        };
        let rows = [
            (
                KeyHealth::Ready { keys: 2 },
                "ready",
                true,
                true,
                "ready (2 keys)",
            ),
            (
                stale,
                "stale",
                true,
                false,
                "stale (3 keys, past their lifetime for 61 s, served for 7139 s more)",
            ),
            (
                KeyHealth::Unavailable,
                "unavailable",
                false,
                false,
                "unavailable (no keys)",
            ),
        ];
        for (state, word, verifies, fresh, shown) in rows {
            assert_eq!(state.as_str(), word);
            assert_eq!(state.can_verify(), verifies, "{word}");
            assert_eq!(state.is_fresh(), fresh, "{word}");
            assert_eq!(state.to_string(), shown);
        }
        assert_eq!(KeyHealth::of_key_count(0), KeyHealth::Unavailable);
        assert_eq!(KeyHealth::of_key_count(4), KeyHealth::Ready { keys: 4 });
    }

    #[test]
    fn every_source_must_verify_for_readiness() {
        let a = SourceHealth::new("a", KeyHealth::Ready { keys: 1 });
        let b = SourceHealth::new("b", KeyHealth::Unavailable);
        assert!(SourceHealth::all_ready(&[]));
        assert!(SourceHealth::all_ready(std::slice::from_ref(&a)));
        assert!(!SourceHealth::all_ready(&[a, b.clone()]));
        assert_eq!(b.to_string(), "b: unavailable (no keys)");
    }
}
