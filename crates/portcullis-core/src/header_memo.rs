//! The protected header of the last token each thread verified, remembered by its exact
//! encoded bytes.
//!
//! An issuer's tokens share one header (`alg`, `kid`, `typ`), so a token mostly brings the
//! header the one before it brought. Decoding it, parsing it and checking it against a
//! validator's header rules (allowed algorithms, `crit`, `b64`, `typ`) gives the same answer
//! every time: it depends on nothing but the validator's settings and the header's bytes. The
//! memo keeps that answer for one (validator, header) pair per thread, and only for the
//! header of a token that verified: a refused header is parsed again every time, and unsigned
//! junk cannot push an issuer's header out of the memo. Nothing is shared between
//! threads (no lock), and nobody can put anything in it but a header their own token carries;
//! the key is still chosen and the signature still checked for every token.

use std::cell::RefCell;

use crate::alg::Algorithm;

/// Headers longer than this (encoded) are not remembered; a common header is 40-120 bytes.
const MAX_ENCODED: usize = 512;

/// What the header said, once it passed.
struct Last {
    /// The [`Validator`](crate::Validator) whose rules it passed (its settings' id).
    validator: u64,
    /// The header segment, base64url as the token carried it.
    encoded: Vec<u8>,
    alg: Algorithm,
    kid: Option<Box<str>>,
}

thread_local! {
    static LAST: RefCell<Option<Last>> = const { RefCell::new(None) };
}

/// `hit(alg, kid)` when `encoded` is the header that last passed the rules of `validator` on
/// this thread; `None` otherwise (then parse and check it, and [`remember`] it if it passes).
pub(crate) fn lookup<T>(
    validator: u64,
    encoded: &[u8],
    hit: impl FnOnce(Algorithm, Option<&str>) -> T,
) -> Option<T> {
    // A thread being torn down, or a borrow in progress, means no memo: never a panic.
    LAST.try_with(|cell| {
        let last = cell.try_borrow().ok()?;
        match &*last {
            Some(last) if last.validator == validator && *last.encoded == *encoded => {
                Some(hit(last.alg, last.kid.as_deref()))
            }
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// Remembers a header that passed every header rule of `validator`.
pub(crate) fn remember(validator: u64, encoded: &[u8], alg: Algorithm, kid: Option<&str>) {
    if encoded.len() > MAX_ENCODED {
        return;
    }
    let _ = LAST.try_with(|cell| {
        let Ok(mut last) = cell.try_borrow_mut() else {
            return;
        };
        match &mut *last {
            Some(last) => {
                last.validator = validator;
                last.encoded.clear();
                last.encoded.extend_from_slice(encoded);
                last.alg = alg;
                last.kid = kid.map(Into::into);
            }
            empty => {
                *empty = Some(Last {
                    validator,
                    encoded: encoded.to_vec(),
                    alg,
                    kid: kid.map(Into::into),
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_header_for_the_same_validator_is_a_hit() {
        let alg_kid = |alg: Algorithm, kid: Option<&str>| (alg, kid.map(str::to_owned));
        assert_eq!(lookup(1, b"eyJh", alg_kid), None);
        remember(1, b"eyJh", Algorithm::ES256, Some("k1"));
        assert_eq!(
            lookup(1, b"eyJh", alg_kid),
            Some((Algorithm::ES256, Some("k1".to_owned())))
        );
        // Another validator, another header (longer, shorter, one byte off): misses.
        assert_eq!(lookup(2, b"eyJh", alg_kid), None);
        for other in [&b"eyJhb"[..], b"eyJ", b"eyJi", b""] {
            assert_eq!(lookup(1, other, alg_kid), None);
        }
        // The newest replaces it.
        remember(1, b"eyJi", Algorithm::RS256, None);
        assert_eq!(lookup(1, b"eyJh", alg_kid), None);
        assert_eq!(lookup(1, b"eyJi", alg_kid), Some((Algorithm::RS256, None)));
        // Another thread has its own.
        std::thread::spawn(move || assert_eq!(lookup(1, b"eyJi", alg_kid), None))
            .join()
            .unwrap();
        // Too long to keep: not remembered, the last one stays.
        let long = vec![b'A'; MAX_ENCODED + 1];
        remember(1, &long, Algorithm::RS256, None);
        assert_eq!(lookup(1, &long, alg_kid), None);
        assert_eq!(lookup(1, b"eyJi", alg_kid), Some((Algorithm::RS256, None)));
        let fits = vec![b'A'; MAX_ENCODED];
        remember(1, &fits, Algorithm::EdDSA, None);
        assert_eq!(lookup(1, &fits, alg_kid), Some((Algorithm::EdDSA, None)));
    }

    #[test]
    fn remembering_while_looking_up_is_skipped_not_a_panic() {
        remember(7, b"eyJh", Algorithm::ES256, None);
        let hit = lookup(7, b"eyJh", |alg, _| {
            remember(7, b"eyJi", Algorithm::RS256, None);
            alg
        });
        assert_eq!(hit, Some(Algorithm::ES256));
        assert_eq!(lookup(7, b"eyJi", |alg, _| alg), None);
        assert_eq!(lookup(7, b"eyJh", |alg, _| alg), Some(Algorithm::ES256));
    }
}
