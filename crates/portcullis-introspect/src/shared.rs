//! Verdicts shared by the replicas of a deployment: one replica's introspection call serves
//! the others.
//!
//! A [`SharedVerdicts`] store (Redis: `portcullis-redis`) holds records keyed by the token's
//! HMAC-SHA-256 digest under a key every replica derives from one [`SharedCacheKey`]; the
//! token is never stored. A record is the endpoint's response as it came, the instant until
//! which it may be used, and a MAC over both under a second key derived from the same
//! secret: a replica reading it checks the MAC, then reads the response with its own rules,
//! exactly as if it had made the call itself. Someone who can write to the store but does
//! not hold the secret can neither forge a verdict nor move one to another token. They can
//! put back an older record of the same token that is still within its deadline (an
//! `active` answer over a later refusal), which the replicas then use until that deadline:
//! at most the active lifetime (60 s by default), as a replica's own cache would have.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{constant_time, hmac};

use crate::cache::Key;

/// The secret the replicas share for the verdict cache: at least 32 bytes, the same on every
/// replica (from a secret store or an environment variable, never from the code).
#[derive(Clone)]
pub struct SharedCacheKey {
    digest: hmac::Key,
    record: hmac::Key,
}

/// The secret given to [`SharedCacheKey::new`] is too short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortSecret;

impl fmt::Display for ShortSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the shared verdict cache's secret must be at least 32 bytes")
    }
}

impl std::error::Error for ShortSecret {}

impl SharedCacheKey {
    /// The keys derived from `secret`.
    ///
    /// # Errors
    /// [`ShortSecret`] for a secret shorter than 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, ShortSecret> {
        if secret.len() < 32 {
            return Err(ShortSecret);
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |label: &[u8]| {
            let tag = hmac::sign(&root, label);
            hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref())
        };
        Ok(SharedCacheKey {
            digest: derive(b"portcullis introspection: token digest"),
            record: derive(b"portcullis introspection: record"),
        })
    }

    pub(crate) fn digest_key(&self) -> &hmac::Key {
        &self.digest
    }

    fn mac(&self, key: &Key, until: f64, response: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.record);
        ctx.update(key);
        ctx.update(&until.to_be_bytes());
        ctx.update(response);
        ctx.sign()
    }

    /// A record of `response` for the token digest `key`, to be used until `until` (Unix
    /// seconds): MAC (32 bytes), `until` (8 bytes, big-endian f64), the response.
    pub(crate) fn seal(&self, key: &Key, until: f64, response: &str) -> Vec<u8> {
        let mut record = Vec::with_capacity(40 + response.len());
        record.extend_from_slice(self.mac(key, until, response.as_bytes()).as_ref());
        record.extend_from_slice(&until.to_be_bytes());
        record.extend_from_slice(response.as_bytes());
        record
    }

    /// The response and its `until` from a record for `key`, if the record is whole and its
    /// MAC is right.
    pub(crate) fn open<'a>(&self, key: &Key, record: &'a [u8]) -> Option<(f64, &'a str)> {
        let (mac, rest) = record.split_at_checked(32)?;
        let (until, response) = rest.split_at_checked(8)?;
        let until = f64::from_be_bytes(until.try_into().ok()?);
        let expected = self.mac(key, until, response);
        constant_time::verify_slices_are_equal(expected.as_ref(), mac).ok()?;
        Some((until, std::str::from_utf8(response).ok()?))
    }
}

impl fmt::Debug for SharedCacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedCacheKey(..)")
    }
}

/// Why a [`SharedVerdicts`] store could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCacheError {
    reason: Box<str>,
}

impl SharedCacheError {
    /// An error with its reason, which is logged: never a token or a password.
    pub fn new(reason: impl Into<String>) -> Self {
        SharedCacheError {
            reason: reason.into().into_boxed_str(),
        }
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SharedCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shared verdict cache unavailable: {}", self.reason)
    }
}

impl std::error::Error for SharedCacheError {}

/// A boxed future of a [`SharedVerdicts`] call.
pub type SharedFuture<T> = Pin<Box<dyn Future<Output = Result<T, SharedCacheError>> + Send>>;

/// Where the replicas keep their verdicts: opaque records by token digest.
pub trait SharedVerdicts: Send + Sync + 'static {
    /// The record under `key`, if there is one.
    fn get(&self, key: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>>;

    /// Stores `record` under `key` for `ttl`, replacing what was there.
    fn put(&self, key: &[u8; 32], record: Vec<u8>, ttl: Duration) -> SharedFuture<()>;
}

impl<S: SharedVerdicts + ?Sized> SharedVerdicts for Arc<S> {
    fn get(&self, key: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>> {
        (**self).get(key)
    }

    fn put(&self, key: &[u8; 32], record: Vec<u8>, ttl: Duration) -> SharedFuture<()> {
        (**self).put(key, record, ttl)
    }
}

/// What the introspector does when the shared store cannot answer a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SharedCachePolicy {
    /// Refuse the request with 503 (`SharedCacheUnavailable`): the default, so that an
    /// outage of the store never multiplies the calls the endpoint receives by the number of
    /// replicas without anyone deciding it.
    #[default]
    FailClosed,
    /// Ask the endpoint, as a replica without a shared cache would (logged at `warn`).
    FailOpen,
}

/// The shared cache an introspector is given: the store, the secret, the policy.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SharedVerdicts>,
    pub(crate) key: SharedCacheKey,
    pub(crate) policy: SharedCachePolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_whole_and_for_their_own_token() {
        let key = SharedCacheKey::new(&[7u8; 32]).unwrap();
        let record = key.seal(&[1; 32], 1234.5, r#"{"active":true}"#);
        assert_eq!(
            key.open(&[1; 32], &record),
            Some((1234.5, r#"{"active":true}"#))
        );
        // Another token's digest, a changed byte anywhere, a cut record: refused.
        assert_eq!(key.open(&[2; 32], &record), None);
        for i in 0..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 1;
            assert_eq!(key.open(&[1; 32], &bad), None, "byte {i}");
        }
        for len in 0..record.len() {
            assert_eq!(key.open(&[1; 32], &record[..len]), None, "len {len}");
        }
        // Another secret: refused.
        let other = SharedCacheKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&[1; 32], &record), None);
    }

    #[test]
    fn short_secrets_are_refused_and_keys_never_shown() {
        assert_eq!(SharedCacheKey::new(&[1; 31]).err(), Some(ShortSecret));
        let key = SharedCacheKey::new(&[1; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "SharedCacheKey(..)");
        assert!(ShortSecret.to_string().contains("32 bytes"));
        let e = SharedCacheError::new("timed out");
        assert_eq!(e.reason(), "timed out");
        assert!(e.to_string().contains("timed out"));
    }
}
