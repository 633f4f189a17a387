//! An immutable set of verification keys, looked up by `kid`.
//!
//! ```
//! use portcullis_core::{Algorithm, KeySet, VerifyingKey};
//!
//! let key = VerifyingKey::hmac(Algorithm::HS256, &[1u8; 32]).unwrap().with_kid("k1");
//! let keys = KeySet::new(vec![key]);
//! assert!(keys.select(Some("k1"), Algorithm::HS256).is_ok());
//! assert!(keys.select(Some("k2"), Algorithm::HS256).is_err()); // unknown kid
//! assert!(keys.select(Some("k1"), Algorithm::HS384).is_err()); // key not bound to HS384
//! ```

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alg::{Algorithm, AlgorithmSet};
use crate::error::{ErrorKind, KeyError, KeyErrorKind};
use crate::key::{Jwk, VerifyingKey};

/// An immutable set of verification keys.
///
/// Lookups scan the keys in order: key sets are small (an authorization server publishes a
/// handful of keys), and a scan of a few entries beats hashing the `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Arc<[VerifyingKey]>,
}

/// A key of a JWKS document that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position of the key in the document's `keys` array.
    pub index: usize,
    /// The key's `kid`, when it could be read.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub error: KeyError,
}

/// The outcome of loading a JWKS document: the usable keys and the skipped ones.
#[derive(Debug, Clone)]
pub struct JwksLoad {
    /// The usable keys.
    pub keys: KeySet,
    /// The keys that were skipped, with their reasons.
    pub skipped: Vec<SkippedKey>,
}

#[derive(Deserialize)]
struct JwksDocument<'a> {
    #[serde(borrow)]
    keys: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct KidOnly {
    #[serde(default)]
    kid: Option<String>,
}

impl KeySet {
    /// The cap on the number of keys in a JWKS document that [`KeySet::from_jwks`] loads,
    /// and the default of every key source: an authorization server publishes a handful of
    /// keys (a few per algorithm, plus those being rotated in and out), and the cap bounds
    /// what one document can cost to parse.
    pub const DEFAULT_MAX_KEYS: usize = 100;

    /// A key set holding these keys, in this order.
    #[must_use]
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        KeySet { keys: keys.into() }
    }

    /// Parses a JWKS document (RFC 7517 section 5) leniently, key by key: a key that is
    /// malformed, unsupported, for encryption, weak, or a second key with the same `kid` and
    /// an overlapping algorithm is skipped and reported in [`JwksLoad::skipped`]. Symmetric
    /// (`oct`) keys are loaded only when `allowed` contains an HS* algorithm. A document with
    /// more than [`KeySet::DEFAULT_MAX_KEYS`] entries is refused as a whole.
    ///
    /// # Errors
    /// [`KeyErrorKind::MalformedJwks`] when the document is not an object with a `keys`
    /// array, [`KeyErrorKind::TooManyKeys`] when it has more entries than the cap,
    /// [`KeyErrorKind::NoUsableKey`] when no key is usable.
    pub fn from_jwks(json: &str, allowed: AlgorithmSet) -> Result<JwksLoad, KeyError> {
        Self::from_jwks_limited(json, allowed, Self::DEFAULT_MAX_KEYS)
    }

    /// As [`KeySet::from_jwks`], with `max_keys` as the cap on the document's entries
    /// (so that a huge document cannot cost a parse of every key in it).
    ///
    /// # Errors
    /// As [`KeySet::from_jwks`].
    pub fn from_jwks_limited(
        json: &str,
        allowed: AlgorithmSet,
        max_keys: usize,
    ) -> Result<JwksLoad, KeyError> {
        let doc: JwksDocument<'_> =
            serde_json::from_str(json).map_err(|_| KeyErrorKind::MalformedJwks)?;
        if doc.keys.len() > max_keys {
            return Err(KeyErrorKind::TooManyKeys {
                found: doc.keys.len(),
                cap: max_keys,
            }
            .into());
        }
        let mut keys: Vec<VerifyingKey> = Vec::with_capacity(doc.keys.len());
        let mut skipped = Vec::new();
        for (index, raw) in doc.keys.iter().enumerate() {
            let kid = serde_json::from_str::<KidOnly>(raw.get())
                .ok()
                .and_then(|k| k.kid);
            let loaded = serde_json::from_str::<Jwk>(raw.get())
                .map_err(|_| KeyError::from(KeyErrorKind::MalformedJwk("not a JWK object")))
                .and_then(|jwk| VerifyingKey::from_jwk(&jwk, allowed));
            match loaded {
                Ok(key) => {
                    let clash = keys.iter().any(|k| {
                        k.kid() == key.kid()
                            && !k.algorithms().intersection(key.algorithms()).is_empty()
                    });
                    if clash {
                        skipped.push(SkippedKey {
                            index,
                            kid,
                            error: KeyErrorKind::DuplicateKid.into(),
                        });
                    } else {
                        keys.push(key);
                    }
                }
                Err(error) => skipped.push(SkippedKey { index, kid, error }),
            }
        }
        if keys.is_empty() {
            return Err(KeyErrorKind::NoUsableKey.into());
        }
        Ok(JwksLoad {
            keys: KeySet::new(keys),
            skipped,
        })
    }

    /// Chooses the key for a token with this `kid` and `alg`.
    ///
    /// With a `kid`, the key with that id that may verify `alg`. Without one, the only key of
    /// the set that may verify `alg`: when several fit, the token is refused rather than
    /// trying each (which would let one token cost N verifications).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownKey`] when no key has the `kid` (or, without `kid`, none fits),
    /// [`ErrorKind::KeyAlgorithmMismatch`] when the key exists but may not verify `alg`,
    /// [`ErrorKind::AmbiguousKey`] when the token has no `kid` and several keys fit,
    /// [`ErrorKind::KeysUnavailable`] when the set is empty.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&VerifyingKey, ErrorKind> {
        if self.keys.is_empty() {
            // Nothing to verify with: a source that has not loaded, or has lost, its keys.
            return Err(ErrorKind::KeysUnavailable);
        }
        match kid {
            Some(kid) => {
                let mut found = false;
                for key in self.keys.iter() {
                    if key.kid() == Some(kid) {
                        if key.algorithms().contains(alg) {
                            return Ok(key);
                        }
                        found = true;
                    }
                }
                Err(if found {
                    ErrorKind::KeyAlgorithmMismatch(alg)
                } else {
                    ErrorKind::UnknownKey
                })
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.algorithms().contains(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(ErrorKind::UnknownKey),
                    (Some(_), Some(_)) => Err(ErrorKind::AmbiguousKey),
                }
            }
        }
    }

    /// Whether a key with this id is in the set.
    #[must_use]
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether two handles share the same key storage (a cheap identity check for caches).
    #[must_use]
    pub fn same_as(&self, other: &KeySet) -> bool {
        Arc::ptr_eq(&self.keys, &other.keys)
    }
}

impl FromIterator<VerifyingKey> for KeySet {
    fn from_iter<I: IntoIterator<Item = VerifyingKey>>(iter: I) -> Self {
        KeySet::new(iter.into_iter().collect())
    }
}
