//! The deny list: tokens refused before they expire, by (`iss`, `jti`), or every token of a
//! subject issued before an instant (`iss`, `sub`, issued before T: "log out everywhere").
//!
//! A [`RevocationList`] answers, for the claims of a verified token, whether an entry covers
//! it. [`RevocationVerifier`] asks it after any [`Verifier`] has accepted a token, on every
//! request (verified-token cache hits included), so a revoked token stops working at once on
//! this replica. [`LocalRevocations`] keeps the entries in this process; `portcullis-redis`
//! shares them between replicas.
//!
//! Entries are keyed by [`RevocationKey`], a SHA-256 digest of the issuer and the token's
//! `jti` (or `sub`): nothing the token's issuer or holder chose is used raw as a key, and the
//! same entry has the same key on every replica. Each entry expires when the tokens it covers
//! would have expired anyway, so the list stays as small as the set of tokens still alive.
//!
//! A token covered by a subject entry must prove it was issued after the entry's instant: a
//! token without `iat` is refused (it cannot show it is newer).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::digest;

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ErrorKind};
use crate::verify::{Presentation, Verdict, Verifier};

/// The key of one deny-list entry: SHA-256 over its kind, the issuer and the `jti` (or the
/// `sub`), each length-prefixed so that no two (issuer, value) pairs share a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevocationKey([u8; 32]);

impl RevocationKey {
    /// The key of the entry refusing the token `jti` of `issuer`.
    #[must_use]
    pub fn token(issuer: &str, jti: &str) -> Self {
        Self::digest(b'j', issuer, jti)
    }

    /// The key of the entry refusing the tokens of `subject` at `issuer` issued before an
    /// instant.
    #[must_use]
    pub fn subject(issuer: &str, subject: &str) -> Self {
        Self::digest(b's', issuer, subject)
    }

    fn digest(kind: u8, issuer: &str, value: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"portcullis revocation\0");
        ctx.update(&[kind]);
        ctx.update(&(issuer.len() as u64).to_be_bytes());
        ctx.update(issuer.as_bytes());
        ctx.update(&(value.len() as u64).to_be_bytes());
        ctx.update(value.as_bytes());
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(ctx.finish().as_ref()) {
            *o = *b;
        }
        RevocationKey(out)
    }

    /// A key from its 32 bytes (as a shared store sends them between replicas).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RevocationKey(bytes)
    }

    /// The digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RevocationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevocationKey(")?;
        for b in self.0.get(..4).unwrap_or_default() {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..)")
    }
}

/// What one deny-list entry refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The one token with this (`iss`, `jti`).
    Token,
    /// Every token of this (`iss`, `sub`) issued before this instant (Unix seconds): a token
    /// with `iat` < the instant, or without `iat`.
    IssuedBefore(u64),
}

/// One deny-list entry, as stored: its rule and when it may be forgotten (Unix seconds; the
/// latest expiry of the tokens it covers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What it refuses.
    pub rule: Rule,
    /// When it expires.
    pub expires_at: u64,
}

impl Entry {
    /// The entry that covers both `self` and `other` for one key: the later instant of two
    /// subject entries, the later expiry.
    #[must_use]
    pub fn merge(self, other: Entry) -> Entry {
        let rule = match (self.rule, other.rule) {
            (Rule::IssuedBefore(a), Rule::IssuedBefore(b)) => Rule::IssuedBefore(a.max(b)),
            (Rule::Token, _) | (_, Rule::Token) => Rule::Token,
        };
        Entry {
            rule,
            expires_at: self.expires_at.max(other.expires_at),
        }
    }

    /// Whether this entry refuses a token issued at `issued_at`.
    #[must_use]
    pub fn refuses(&self, issued_at: Option<f64>) -> bool {
        match self.rule {
            Rule::Token => true,
            // No `iat`: the token cannot show it was issued after the instant.
            Rule::IssuedBefore(before) => issued_at.is_none_or(|iat| iat < before as f64),
        }
    }
}

/// The entries that may cover one token: the keys a list looks up for its claims.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lookup {
    /// The (`iss`, `jti`) entry's key, when the token has a `jti`.
    pub token: Option<RevocationKey>,
    /// The (`iss`, `sub`) entry's key, when the token has a `sub`.
    pub subject: Option<RevocationKey>,
    /// The token's `iat`.
    pub issued_at: Option<f64>,
    /// The token's `exp`: how long an entry found for it must be remembered to keep
    /// refusing it.
    pub expires_at: Option<f64>,
}

impl Lookup {
    /// The keys for `claims`. A token without `iss` (an introspection answer may omit it) is
    /// looked up under the empty issuer.
    #[must_use]
    pub fn of(claims: &Claims) -> Self {
        let issuer = claims.issuer().unwrap_or("");
        Lookup {
            token: claims.jwt_id().map(|jti| RevocationKey::token(issuer, jti)),
            subject: claims
                .subject()
                .map(|sub| RevocationKey::subject(issuer, sub)),
            issued_at: claims.issued_at(),
            expires_at: claims.expires_at(),
        }
    }

    /// Whether either entry, as found, refuses the token.
    #[must_use]
    pub fn refused_by(&self, token: Option<&Entry>, subject: Option<&Entry>) -> bool {
        token.is_some_and(|e| e.refuses(self.issued_at))
            || subject.is_some_and(|e| e.refuses(self.issued_at))
    }
}

/// What a [`RevocationList`] says of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No entry covers it.
    NotRevoked,
    /// An entry covers it: refused (`401 invalid_token`).
    Revoked,
}

/// Why a [`RevocationList`] could not answer: the request is refused with 503, never
/// accepted, never answered 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationError {
    reason: Box<str>,
}

impl RevocationError {
    /// An error with its reason, which is logged: never a token or a password.
    pub fn new(reason: impl Into<String>) -> Self {
        RevocationError {
            reason: reason.into().into_boxed_str(),
        }
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revocation list unavailable: {}", self.reason)
    }
}

impl std::error::Error for RevocationError {}

/// The future of [`RevocationCheck::Pending`].
pub type PendingCheck = Pin<Box<dyn Future<Output = Result<Standing, RevocationError>> + Send>>;

/// What [`RevocationList::check`] answers: at once (from memory) or after a round trip.
#[must_use]
pub enum RevocationCheck {
    /// Answered now.
    Ready(Result<Standing, RevocationError>),
    /// Answered after a round trip.
    Pending(PendingCheck),
}

impl fmt::Debug for RevocationCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationCheck::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            RevocationCheck::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// A deny list, asked once per accepted token.
pub trait RevocationList: Send + Sync + 'static {
    /// Whether an entry covers the token with `claims` (already verified).
    fn check(&self, claims: &Claims) -> RevocationCheck;
}

impl<L: RevocationList + ?Sized> RevocationList for Arc<L> {
    fn check(&self, claims: &Claims) -> RevocationCheck {
        (**self).check(claims)
    }
}

struct Local {
    entries: RwLock<HashMap<RevocationKey, Entry>>,
    clock: Arc<dyn Clock>,
}

/// A deny list in this process: one replica's, or the local copy a shared list keeps.
///
/// Entries are forgotten once expired (on the clock given, the system's by default); the
/// list never holds more entries than were added and are still alive.
#[derive(Clone)]
pub struct LocalRevocations {
    inner: Arc<Local>,
}

impl Default for LocalRevocations {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalRevocations {
    /// An empty list on the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty list on `clock`.
    #[must_use]
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        LocalRevocations {
            inner: Arc::new(Local {
                entries: RwLock::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// Refuses the token `jti` of `issuer` until `expires_at` (Unix seconds: the token's
    /// `exp`, after which it is refused anyway).
    pub fn revoke_jti(&self, issuer: &str, jti: &str, expires_at: u64) {
        self.insert(
            RevocationKey::token(issuer, jti),
            Entry {
                rule: Rule::Token,
                expires_at,
            },
        );
    }

    /// Refuses every token of `subject` at `issuer` issued before `before` (Unix seconds),
    /// until `expires_at` (`before` plus the longest lifetime of the issuer's tokens).
    pub fn revoke_subject_before(&self, issuer: &str, subject: &str, before: u64, expires_at: u64) {
        self.insert(
            RevocationKey::subject(issuer, subject),
            Entry {
                rule: Rule::IssuedBefore(before),
                expires_at,
            },
        );
    }

    /// Adds `entry` under `key`, merged with an entry already there (never weakening it).
    /// An entry already expired is not added.
    pub fn insert(&self, key: RevocationKey, entry: Entry) {
        let now = self.inner.clock.now_unix();
        if (entry.expires_at as f64) <= now {
            return;
        }
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Forget the expired entries when the map would grow: the work is paid by the
        // writer, at most once per doubling, never by a request.
        if entries.len() == entries.capacity() {
            entries.retain(|_, e| (e.expires_at as f64) > now);
        }
        let merged = match entries.get(&key) {
            Some(old) if (old.expires_at as f64) > now => old.merge(entry),
            _ => entry,
        };
        entries.insert(key, merged);
    }

    /// The live entry under `key`.
    #[must_use]
    pub fn get(&self, key: &RevocationKey) -> Option<Entry> {
        let now = self.inner.clock.now_unix();
        let entries = self
            .inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| (e.expires_at as f64) > now)
            .copied()
    }

    /// Whether a live entry covers the token looked up.
    #[must_use]
    pub fn standing(&self, lookup: &Lookup) -> Standing {
        let token = lookup.token.and_then(|k| self.get(&k));
        let subject = lookup.subject.and_then(|k| self.get(&k));
        if lookup.refused_by(token.as_ref(), subject.as_ref()) {
            Standing::Revoked
        } else {
            Standing::NotRevoked
        }
    }

    /// The number of entries held (expired ones not yet forgotten included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the list holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for LocalRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRevocations")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl RevocationList for LocalRevocations {
    fn check(&self, claims: &Claims) -> RevocationCheck {
        RevocationCheck::Ready(Ok(self.standing(&Lookup::of(claims))))
    }
}

/// A [`Verifier`] that asks a [`RevocationList`] about every token the inner verifier
/// accepts: a revoked token is `Revoked` (401 `invalid_token`), a list that cannot answer is
/// `RevocationUnavailable` (503).
#[derive(Debug, Clone)]
pub struct RevocationVerifier<V, L> {
    inner: V,
    list: L,
}

impl<V: Verifier, L: RevocationList + Clone> RevocationVerifier<V, L> {
    /// `inner`, with `list` asked after it.
    pub fn new(inner: V, list: L) -> Self {
        RevocationVerifier { inner, list }
    }

    /// The verifier asked first.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The deny list.
    pub fn list(&self) -> &L {
        &self.list
    }
}

fn judged(
    claims: Claims,
    standing: Result<Standing, RevocationError>,
) -> Result<Claims, AuthError> {
    match standing {
        Ok(Standing::NotRevoked) => Ok(claims),
        Ok(Standing::Revoked) => Err(ErrorKind::Revoked.into()),
        Err(e) => Err(ErrorKind::RevocationUnavailable(e.reason).into()),
    }
}

fn check_after(list: &impl RevocationList, claims: Claims) -> Verdict {
    match list.check(&claims) {
        RevocationCheck::Ready(standing) => Verdict::Ready(judged(claims, standing)),
        RevocationCheck::Pending(check) => Verdict::pending(async move {
            let standing = check.await;
            judged(claims, standing)
        }),
    }
}

impl<V: Verifier, L: RevocationList + Clone> Verifier for RevocationVerifier<V, L> {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        match self.inner.verify(presentation) {
            Verdict::Ready(Ok(claims)) => check_after(&self.list, claims),
            Verdict::Ready(Err(e)) => Verdict::Ready(Err(e)),
            Verdict::Pending(verdict) => {
                let list = self.list.clone();
                Verdict::pending(async move {
                    let claims = verdict.await?;
                    match check_after(&list, claims) {
                        Verdict::Ready(result) => result,
                        Verdict::Pending(future) => future.await,
                    }
                })
            }
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        self.inner.accepts_only_b64tokens()
    }

    fn max_token_len(&self) -> usize {
        self.inner.max_token_len()
    }

    fn now_unix(&self) -> f64 {
        self.inner.now_unix()
    }

    fn health(&self) -> Vec<crate::health::SourceHealth> {
        self.inner.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn claims(json: &str) -> Claims {
        Claims::from_trusted_json(json).expect("claims")
    }

    #[test]
    fn keys_separate_kinds_issuers_and_values() {
        let a = RevocationKey::token("https://a", "x");
        assert_eq!(a, RevocationKey::token("https://a", "x"));
        assert_ne!(a, RevocationKey::subject("https://a", "x"));
        assert_ne!(a, RevocationKey::token("https://b", "x"));
        assert_ne!(a, RevocationKey::token("https://a", "y"));
        // The length prefixes: moving a byte from the issuer to the value changes the key.
        assert_ne!(
            RevocationKey::token("ab", "c"),
            RevocationKey::token("a", "bc")
        );
        assert_eq!(RevocationKey::from_bytes(*a.as_bytes()), a);
        assert!(format!("{a:?}").ends_with("..)"));
    }

    #[test]
    fn subject_entries_refuse_tokens_issued_before_or_without_iat() {
        let entry = Entry {
            rule: Rule::IssuedBefore(100),
            expires_at: 1000,
        };
        assert!(entry.refuses(Some(99.5)));
        assert!(entry.refuses(None));
        assert!(!entry.refuses(Some(100.0)));
        assert!(!entry.refuses(Some(101.0)));
        let token = Entry {
            rule: Rule::Token,
            expires_at: 1000,
        };
        assert!(token.refuses(Some(5000.0)) && token.refuses(None));
    }

    #[test]
    fn merging_never_weakens_an_entry() {
        let early = Entry {
            rule: Rule::IssuedBefore(100),
            expires_at: 500,
        };
        let late = Entry {
            rule: Rule::IssuedBefore(200),
            expires_at: 400,
        };
        let merged = early.merge(late);
        assert_eq!(merged.rule, Rule::IssuedBefore(200));
        assert_eq!(merged.expires_at, 500);
        assert_eq!(late.merge(early), merged);
    }

    #[test]
    fn the_local_list_refuses_until_the_entry_expires() {
        let clock = Arc::new(ManualClock::at(1000));
        let list = LocalRevocations::with_clock(clock.clone());
        let token = claims(r#"{"iss":"https://i","jti":"t1","sub":"u","iat":900}"#);
        let other = claims(r#"{"iss":"https://i","jti":"t2","sub":"v","iat":900}"#);
        assert!(list.is_empty());
        list.revoke_jti("https://i", "t1", 2000);
        assert_eq!(list.len(), 1);
        assert!(!list.is_empty());
        assert_eq!(list.standing(&Lookup::of(&token)), Standing::Revoked);
        assert_eq!(list.standing(&Lookup::of(&other)), Standing::NotRevoked);
        clock.set(2000);
        assert_eq!(list.standing(&Lookup::of(&token)), Standing::NotRevoked);
        // An entry already expired is not kept.
        list.revoke_jti("https://i", "t2", 1500);
        assert_eq!(list.standing(&Lookup::of(&other)), Standing::NotRevoked);
    }

    #[test]
    fn the_local_list_refuses_a_subjects_older_tokens() {
        let clock = Arc::new(ManualClock::at(1000));
        let list = LocalRevocations::with_clock(clock);
        list.revoke_subject_before("https://i", "u", 950, 5000);
        let old = claims(r#"{"iss":"https://i","sub":"u","iat":900}"#);
        let new = claims(r#"{"iss":"https://i","sub":"u","iat":960}"#);
        let no_iat = claims(r#"{"iss":"https://i","sub":"u"}"#);
        let elsewhere = claims(r#"{"iss":"https://j","sub":"u","iat":900}"#);
        assert_eq!(list.standing(&Lookup::of(&old)), Standing::Revoked);
        assert_eq!(list.standing(&Lookup::of(&no_iat)), Standing::Revoked);
        assert_eq!(list.standing(&Lookup::of(&new)), Standing::NotRevoked);
        assert_eq!(list.standing(&Lookup::of(&elsewhere)), Standing::NotRevoked);
        // An earlier instant added later does not shorten the entry.
        list.revoke_subject_before("https://i", "u", 100, 200_000);
        assert_eq!(list.standing(&Lookup::of(&old)), Standing::Revoked);
        let key = RevocationKey::subject("https://i", "u");
        assert_eq!(
            list.get(&key),
            Some(Entry {
                rule: Rule::IssuedBefore(950),
                expires_at: 200_000
            })
        );
    }

    #[test]
    fn expired_entries_are_forgotten_when_the_map_grows() {
        let clock = Arc::new(ManualClock::at(1000));
        let list = LocalRevocations::with_clock(clock.clone());
        for i in 0..100 {
            list.revoke_jti("https://i", &format!("t{i}"), 1001);
        }
        // At 1001 exactly those entries are expired (an entry refuses before its expiry).
        clock.set(1001);
        for i in 0..200 {
            list.revoke_jti("https://i", &format!("u{i}"), 5000);
        }
        assert_eq!(list.len(), 200, "only the live entries are left");
        for i in 0..200 {
            let claims =
                Claims::from_trusted_json(&format!(r#"{{"iss":"https://i","jti":"u{i}"}}"#))
                    .unwrap();
            assert_eq!(
                list.standing(&Lookup::of(&claims)),
                Standing::Revoked,
                "u{i}"
            );
        }
    }

    #[test]
    fn an_expired_entry_is_replaced_never_merged() {
        let clock = Arc::new(ManualClock::at(1000));
        let list = LocalRevocations::with_clock(clock.clone());
        list.revoke_subject_before("https://i", "u", 950, 1500);
        // At its expiry the old instant is gone: the new, earlier one stands alone.
        clock.set(1500);
        list.revoke_subject_before("https://i", "u", 100, 5000);
        let old = claims(r#"{"iss":"https://i","sub":"u","iat":900}"#);
        assert_eq!(list.standing(&Lookup::of(&old)), Standing::NotRevoked);
        let older = claims(r#"{"iss":"https://i","sub":"u","iat":50}"#);
        assert_eq!(list.standing(&Lookup::of(&older)), Standing::Revoked);
    }

    struct Accepts(&'static str);

    impl Verifier for Accepts {
        fn verify(&self, _: &Presentation<'_>) -> Verdict {
            Verdict::Ready(Claims::from_trusted_json(self.0))
        }
    }

    struct Later(&'static str);

    impl Verifier for Later {
        fn verify(&self, _: &Presentation<'_>) -> Verdict {
            let json = self.0;
            Verdict::pending(async move { Claims::from_trusted_json(json) })
        }
        fn accepts_only_b64tokens(&self) -> bool {
            true
        }
        fn max_token_len(&self) -> usize {
            77
        }
    }

    #[derive(Clone)]
    struct Down;

    impl RevocationList for Down {
        fn check(&self, _: &Claims) -> RevocationCheck {
            RevocationCheck::Pending(Box::pin(async { Err(RevocationError::new("down")) }))
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    fn kind(verdict: Verdict) -> Result<Claims, ErrorKind> {
        block_on(verdict.into_future()).map_err(|e| e.kind().clone())
    }

    use std::future::IntoFuture;

    #[test]
    fn the_verifier_refuses_revoked_tokens_ready_or_pending() {
        let list = LocalRevocations::new();
        list.revoke_jti("https://i", "t1", u64::MAX / 2);
        let json = r#"{"iss":"https://i","jti":"t1"}"#;
        let p = Presentation::bearer("t");
        let ready = RevocationVerifier::new(Accepts(json), list.clone());
        assert!(ready.verify(&p).is_ready());
        assert_eq!(kind(ready.verify(&p)).err(), Some(ErrorKind::Revoked));
        let pending = RevocationVerifier::new(Later(json), list.clone());
        assert!(!pending.verify(&p).is_ready());
        assert_eq!(kind(pending.verify(&p)).err(), Some(ErrorKind::Revoked));
        let fine = RevocationVerifier::new(Later(r#"{"iss":"https://i","jti":"t2"}"#), list);
        assert_eq!(
            kind(fine.verify(&p)).map(|c| c.jwt_id().map(str::to_owned)),
            Ok(Some("t2".into()))
        );
        assert!(fine.accepts_only_b64tokens());
        assert_eq!(fine.max_token_len(), 77);
        assert!(!ready.accepts_only_b64tokens());
        assert_eq!(fine.inner().max_token_len(), 77);
        assert_eq!(fine.list().len(), 1);
    }

    #[test]
    fn an_unavailable_list_says_why() {
        let e = RevocationError::new("timed out after 50ms");
        assert_eq!(e.reason(), "timed out after 50ms");
        assert_eq!(
            e.to_string(),
            "revocation list unavailable: timed out after 50ms"
        );
    }

    #[test]
    fn a_list_that_cannot_answer_is_unavailable_never_accepted() {
        let p = Presentation::bearer("t");
        for verifier in [
            Box::new(RevocationVerifier::new(Accepts(r#"{"jti":"a"}"#), Down)) as Box<dyn Verifier>,
            Box::new(RevocationVerifier::new(Later(r#"{"jti":"a"}"#), Down)),
        ] {
            assert_eq!(
                kind(verifier.verify(&p)).err(),
                Some(ErrorKind::RevocationUnavailable("down".into()))
            );
        }
        // A token the inner verifier refuses is refused for its own reason, the list unasked.
        struct Refuses;
        impl Verifier for Refuses {
            fn verify(&self, _: &Presentation<'_>) -> Verdict {
                Verdict::Ready(Err(ErrorKind::Expired.into()))
            }
        }
        let v = RevocationVerifier::new(Refuses, Down);
        assert_eq!(kind(v.verify(&p)).err(), Some(ErrorKind::Expired));
    }
}
