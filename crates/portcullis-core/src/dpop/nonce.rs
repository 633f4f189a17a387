//! Server-provided DPoP nonces (RFC 9449 section 9) that need no shared state: a nonce is the
//! time it was issued, authenticated with HMAC-SHA256 under a secret the replicas share
//! through their configuration. Any replica with the secret accepts any replica's nonce;
//! nothing is stored.
//!
//! A nonce: base64url of `version (1) ‖ key id (1) ‖ issued at (8, big-endian seconds) ‖
//! tag (16)`, 35 characters. The time is rounded down to the refresh interval, so every
//! client gets the same nonce within one interval (a header value computed once).

use std::fmt;
use std::sync::Mutex;

use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::error::{ConfigError, ConfigErrorKind};

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const LEN: usize = 2 + 8 + TAG_LEN;

/// A secret that authenticates DPoP nonces: 32 random bytes. Replicas that accept each
/// other's nonces are given the same secret; `Debug` never shows it.
#[derive(Clone)]
pub struct NonceKey {
    id: u8,
    key: hmac::Key,
}

impl NonceKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn new(secret: [u8; 32]) -> Self {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[b"portcullis dpop nonce key id\0".as_slice(), &secret].concat(),
        );
        NonceKey {
            id: digest.as_ref().first().copied().unwrap_or_default(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        }
    }

    /// A key from the base64 (standard or URL-safe, padding optional) of 32 bytes, as kept
    /// in an environment variable or a secret store.
    ///
    /// # Errors
    /// [`ConfigErrorKind::Invalid`] when the text is not the base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim().trim_end_matches('=');
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text));
        match decoded.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(secret) => Ok(NonceKey::new(secret)),
            None => Err(ConfigError::from(ConfigErrorKind::Invalid {
                setting: "dpop nonce key",
                reason: "not the base64 of 32 bytes".into(),
            })),
        }
    }

    /// A fresh random key, for a single replica (or one whose nonces need not survive a
    /// restart).
    ///
    /// # Errors
    /// [`ConfigErrorKind::Unusable`] when the system's random source fails.
    pub fn generate() -> Result<Self, ConfigError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| {
            ConfigError::from(ConfigErrorKind::Unusable {
                setting: "dpop nonce key",
                value: "the system random source failed".into(),
            })
        })?;
        Ok(NonceKey::new(secret))
    }
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// How a presented nonce fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Valid; `current` says whether it is the nonce of the current interval.
    Valid { current: bool },
    /// Missing, forged, from another secret, expired or from the future: the client gets a
    /// fresh one.
    Invalid,
}

/// The nonces of one deployment.
pub(crate) struct Nonces {
    /// The first seals; all open (rotation: the new secret first, the old one after it until
    /// every nonce it sealed has expired).
    keys: Vec<NonceKey>,
    lifetime: i64,
    refresh: i64,
    current: Mutex<Option<(i64, Box<str>)>>,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("keys", &self.keys.len())
            .field("lifetime", &self.lifetime)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

/// Seconds a replica's clock may run behind another's: a nonce issued up to this far in the
/// future is accepted.
const REPLICA_SKEW: i64 = 5;

impl Nonces {
    pub(crate) fn new(keys: Vec<NonceKey>, lifetime: i64, refresh: i64) -> Self {
        Nonces {
            keys,
            lifetime,
            refresh: refresh.clamp(1, lifetime.max(1)),
            current: Mutex::new(None),
        }
    }

    fn seal(&self, key: &NonceKey, issued: i64) -> String {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.push(VERSION);
        bytes.push(key.id);
        bytes.extend_from_slice(&issued.to_be_bytes());
        let tag = hmac::sign(&key.key, &bytes);
        bytes.extend_from_slice(tag.as_ref().get(..TAG_LEN).unwrap_or_default());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn slot(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.refresh)
    }

    /// The nonce of the current interval.
    pub(crate) fn current(&self, now: i64) -> Box<str> {
        let slot = self.slot(now);
        let mut current = match self.current.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &*current {
            Some((at, nonce)) if *at == slot => nonce.clone(),
            _ => {
                let Some(key) = self.keys.first() else {
                    return Box::from("");
                };
                let nonce: Box<str> = self.seal(key, slot).into();
                *current = Some((slot, nonce.clone()));
                nonce
            }
        }
    }

    /// Whether `nonce` is one of ours and still valid at `now`.
    pub(crate) fn check(&self, nonce: Option<&str>, now: i64) -> NonceCheck {
        let Some(nonce) = nonce else {
            return NonceCheck::Invalid;
        };
        if nonce.len() != 35 {
            return NonceCheck::Invalid;
        }
        let Some(bytes) = crate::b64::decode(nonce) else {
            return NonceCheck::Invalid;
        };
        let (Some(&version), Some(&id), Some(time), Some(tag), Some(signed)) = (
            bytes.first(),
            bytes.get(1),
            bytes.get(2..10),
            bytes.get(10..),
            bytes.get(..10),
        ) else {
            return NonceCheck::Invalid;
        };
        if version != VERSION || tag.len() != TAG_LEN {
            return NonceCheck::Invalid;
        }
        let authentic = self.keys.iter().filter(|k| k.id == id).any(|k| {
            let full = hmac::sign(&k.key, signed);
            let expected = full.as_ref().get(..TAG_LEN).unwrap_or_default();
            aws_lc_rs::constant_time::verify_slices_are_equal(expected, tag).is_ok()
        });
        if !authentic {
            return NonceCheck::Invalid;
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(time);
        let issued = i64::from_be_bytes(be);
        if issued > now.saturating_add(REPLICA_SKEW) || now.saturating_sub(issued) > self.lifetime {
            return NonceCheck::Invalid;
        }
        NonceCheck::Valid {
            current: issued >= self.slot(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(keys: Vec<NonceKey>) -> Nonces {
        Nonces::new(keys, 300, 60)
    }

    #[test]
    fn a_nonce_is_valid_for_its_lifetime_and_current_for_its_interval() {
        let n = nonces(vec![NonceKey::new([1; 32])]);
        let t = 1_700_000_000;
        let nonce = n.current(t);
        assert_eq!(nonce.len(), 35);
        assert_eq!(n.current(t + 1), nonce, "one nonce per interval");
        assert_eq!(
            n.check(Some(&nonce), t),
            NonceCheck::Valid { current: true }
        );
        let slot = t - t.rem_euclid(60);
        assert_eq!(
            n.check(Some(&nonce), slot + 59),
            NonceCheck::Valid { current: true }
        );
        assert_eq!(
            n.check(Some(&nonce), slot + 60),
            NonceCheck::Valid { current: false }
        );
        assert_eq!(
            n.check(Some(&nonce), slot + 300),
            NonceCheck::Valid { current: false }
        );
        assert_eq!(n.check(Some(&nonce), slot + 301), NonceCheck::Invalid);
        assert_eq!(
            n.check(Some(&nonce), slot - 6),
            NonceCheck::Invalid,
            "from the future"
        );
        assert_eq!(
            n.check(Some(&nonce), slot - 5),
            NonceCheck::Valid { current: true }
        );
        assert_ne!(n.current(slot + 60), nonce, "the next interval has its own");
        assert_eq!(n.check(None, t), NonceCheck::Invalid);
    }

    #[test]
    fn only_our_secrets_make_valid_nonces_and_rotation_keeps_the_old_ones() {
        let t = 1_700_000_000;
        let old = NonceKey::new([1; 32]);
        let new = NonceKey::new([2; 32]);
        let before = nonces(vec![old.clone()]).current(t);
        let other = nonces(vec![new.clone()]);
        assert_eq!(other.check(Some(&before), t), NonceCheck::Invalid);
        let rotated = nonces(vec![new, old]);
        assert_eq!(
            rotated.check(Some(&before), t),
            NonceCheck::Valid { current: true }
        );
        let after = rotated.current(t);
        assert_ne!(after, before, "the new secret seals");
        assert_eq!(
            other.check(Some(&after), t),
            NonceCheck::Valid { current: true }
        );
    }

    #[test]
    fn tampered_and_malformed_nonces_are_invalid() {
        let t = 1_700_000_000;
        let n = nonces(vec![NonceKey::new([1; 32])]);
        let nonce = n.current(t).to_string();
        for i in 0..nonce.len() {
            let mut bytes = nonce.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(n.check(Some(&tampered), t), NonceCheck::Invalid, "{i}");
        }
        for bad in [
            "",
            "x",
            &nonce[1..],
            &format!("{nonce}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(n.check(Some(bad), t), NonceCheck::Invalid, "{bad}");
        }
    }

    #[test]
    fn keys_come_from_base64_of_32_bytes_and_never_show() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = [0xfb; 32];
        for text in [STANDARD.encode(secret), URL_SAFE_NO_PAD.encode(secret)] {
            let key = NonceKey::from_base64(&format!(" {text}\n")).unwrap();
            assert_eq!(key.id, NonceKey::new(secret).id);
        }
        for bad in [
            "",
            "abc",
            &STANDARD.encode([1u8; 31]),
            &STANDARD.encode([1u8; 33]),
        ] {
            assert!(NonceKey::from_base64(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", NonceKey::new(secret)), "NonceKey(..)");
        assert!(NonceKey::generate().is_ok());
    }
}
