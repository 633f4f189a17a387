//! The deny list shared by the replicas: entries in Redis, a local copy of the entries each
//! replica has heard of, a short-lived local memory of "not revoked" answers, and pub/sub to
//! tell every replica of a new entry at once.
//!
//! ## Consistency
//!
//! The replica that adds an entry refuses the token at once (the entry is in its local copy
//! before [`RedisRevocations::revoke_jti`] returns). Every other replica hears of it through
//! the channel `{prefix}revocations` within the time a message takes (milliseconds), and
//! refuses from then on. A replica that has not heard (its subscription is down, or an entry
//! was written to Redis by something that did not publish it) refuses at most
//! [`RedisRevocationsBuilder::fresh_for`] later (250 ms by default): a "not revoked" answer
//! is reused locally for at most that long, and never while the subscription is down.
//!
//! ## Keys and sizes
//!
//! `{prefix}rev:{64 hex digits}`: the [`RevocationKey`], a SHA-256 digest of the issuer and
//! the `jti` or `sub`. The value is `t` for a token, `s{unix seconds}` for a subject's
//! instant; the key expires with the tokens it covers (`PXAT`).
//!
//! ## Outages
//!
//! A check that Redis cannot answer within the store's timeout follows the
//! [`RevocationPolicy`]: refused with 503 (fail closed, the default), or answered from the
//! local copy (fail open: the entries this replica has heard of still refuse). Either way a
//! warning is logged, at most once a second.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use portcullis_core::revocation::{
    Entry, LocalRevocations, Lookup, RevocationCheck, RevocationError, RevocationKey,
    RevocationList, Rule, Standing,
};
use portcullis_core::{Claims, Clock, SystemClock};

use crate::error::RedisError;
use crate::store::RedisStore;

/// How long a "not revoked" answer from Redis is reused by default: 250 ms, the worst-case
/// delay before a replica that did not hear of a new entry refuses the token.
pub const DEFAULT_FRESH_FOR: Duration = Duration::from_millis(250);

/// How many answers from Redis are remembered by default.
pub const DEFAULT_CACHED_ANSWERS: usize = 100_000;

const SHARDS: usize = 16;

/// Counters of a [`RedisRevocations`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationStats {
    /// Checks answered from memory (an entry heard of, or an answer still fresh).
    pub local_answers: u64,
    /// Checks that asked Redis.
    pub round_trips: u64,
    /// Round trips that got no answer (answered by the policy).
    pub failures: u64,
    /// Messages heard on the channel, and changes of the subscription.
    pub messages: u64,
    /// Whether the subscription is up now.
    pub subscribed: bool,
}

/// What a check does when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RevocationPolicy {
    /// Refuse the request with 503: no token passes unchecked (the default).
    #[default]
    FailClosed,
    /// Answer from the entries this replica has heard of: a token revoked while Redis is
    /// unreachable, or before this replica started, passes until Redis is back.
    FailOpen,
}

/// What Redis answered, by key (the rule it held, or none), with the instant (on the list's
/// clock) each answer was had.
struct Answers {
    shards: [Shard; SHARDS],
    per_shard: usize,
}

type Shard = Mutex<HashMap<RevocationKey, (f64, Option<Rule>)>>;

impl Answers {
    fn new(entries: usize) -> Self {
        Answers {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: entries.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &RevocationKey) -> &Shard {
        // The key is a SHA-256 digest: its first byte is as good as any hash.
        let [first, ..] = key.as_bytes();
        let [zero, ..] = &self.shards;
        self.shards
            .get(usize::from(*first) % SHARDS)
            .unwrap_or(zero)
    }

    /// The answer for `key` had after `since`: `Some(None)` for "no entry".
    fn fresh(&self, key: &RevocationKey, since: f64) -> Option<Option<Rule>> {
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard
            .get(key)
            .filter(|(at, _)| *at > since)
            .map(|(_, rule)| *rule)
    }

    fn insert(&self, key: RevocationKey, at: f64, rule: Option<Rule>, since: f64) {
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, (t, _)| *t > since);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(key, (at, rule));
    }

    fn remove(&self, key: &RevocationKey) {
        self.shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }
}

struct Inner {
    store: RedisStore,
    local: LocalRevocations,
    answers: Answers,
    fresh_for: f64,
    policy: RevocationPolicy,
    clock: Arc<dyn Clock>,
    /// Whether the subscription is up: "not revoked" answers are reused only then.
    subscribed: AtomicBool,
    /// Messages heard so far: an answer read before a message arrived is not remembered.
    heard: AtomicU64,
    /// Checks answered from memory, and by a round trip; round trips that failed.
    local_answers: AtomicU64,
    round_trips: AtomicU64,
    failures: AtomicU64,
    /// When an outage was last logged (Unix seconds on the list's clock, as bits).
    logged: AtomicU64,
    channel: Box<str>,
    /// Tells the subscription task the list is gone.
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

/// The deny list in Redis, shared by every replica (see the module docs for its
/// consistency, sizes and outage behaviour). Cheap to clone.
#[derive(Clone)]
pub struct RedisRevocations {
    inner: Arc<Inner>,
}

/// Builds a [`RedisRevocations`]: [`RedisRevocations::builder`].
#[must_use]
pub struct RedisRevocationsBuilder {
    store: RedisStore,
    fresh_for: Duration,
    cached_answers: usize,
    policy: RevocationPolicy,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RedisRevocationsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationsBuilder")
            .field("store", &self.store)
            .field("fresh_for", &self.fresh_for)
            .field("cached_answers", &self.cached_answers)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisRevocationsBuilder {
    /// How long a "not revoked" answer is reused ([`DEFAULT_FRESH_FOR`]): the worst-case
    /// delay before a replica that missed a message refuses a newly revoked token. Zero asks
    /// Redis on every request.
    pub fn fresh_for(mut self, fresh_for: Duration) -> Self {
        self.fresh_for = fresh_for;
        self
    }

    /// How many answers from Redis to remember ([`DEFAULT_CACHED_ANSWERS`]).
    pub fn cached_answers(mut self, entries: usize) -> Self {
        self.cached_answers = entries;
        self
    }

    /// What a check does when Redis cannot answer ([`RevocationPolicy::FailClosed`]).
    pub fn policy(mut self, policy: RevocationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock for entry lifetimes and answer freshness (the system's by default; tests
    /// inject one).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The list, with its subscription started (a task on the current Tokio runtime, which
    /// reconnects by itself and stops when the last clone of the list is dropped).
    ///
    /// Outside a Tokio runtime the list cannot subscribe: it then reuses no answer and asks
    /// Redis on every check (logged at `warn`).
    pub fn start(self) -> RedisRevocations {
        let channel = self.store.key("revocations").into_boxed_str();
        let inner = Arc::new(Inner {
            local: LocalRevocations::with_clock(self.clock.clone()),
            answers: Answers::new(self.cached_answers),
            fresh_for: self.fresh_for.as_secs_f64(),
            policy: self.policy,
            clock: self.clock,
            subscribed: AtomicBool::new(false),
            heard: AtomicU64::new(0),
            local_answers: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            channel,
            stop: Arc::new(tokio::sync::Notify::new()),
            store: self.store,
        });
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(subscribe(Arc::downgrade(&inner), inner.stop.clone()));
            }
            // Still a correct list: without the subscription no answer is ever reused.
            Err(_) => tracing::warn!(
                target: "portcullis::revocation",
                "RedisRevocations started outside a Tokio runtime: it cannot subscribe to \
                 new entries, so every check asks Redis"
            ),
        }
        RedisRevocations { inner }
    }
}

impl RedisRevocations {
    /// A builder on `store`.
    pub fn builder(store: RedisStore) -> RedisRevocationsBuilder {
        RedisRevocationsBuilder {
            store,
            fresh_for: DEFAULT_FRESH_FOR,
            cached_answers: DEFAULT_CACHED_ANSWERS,
            policy: RevocationPolicy::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The Redis key of `key`.
    #[must_use]
    pub fn redis_key(&self, key: &RevocationKey) -> String {
        let mut name = String::with_capacity(4 + 64);
        name.push_str("rev:");
        for b in key.as_bytes() {
            let _ = write!(name, "{b:02x}");
        }
        self.inner.store.key(&name)
    }

    /// Counters, for health checks, metrics and tests.
    #[must_use]
    pub fn stats(&self) -> RevocationStats {
        let inner = &*self.inner;
        RevocationStats {
            local_answers: inner.local_answers.load(Ordering::Relaxed),
            round_trips: inner.round_trips.load(Ordering::Relaxed),
            failures: inner.failures.load(Ordering::Relaxed),
            messages: inner.heard.load(Ordering::Relaxed),
            subscribed: self.is_subscribed(),
        }
    }

    /// Whether the subscription that tells this replica of new entries is up.
    #[must_use]
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Acquire)
    }

    /// The entries this replica has heard of (its own, and the others' through the channel).
    #[must_use]
    pub fn local(&self) -> &LocalRevocations {
        &self.inner.local
    }

    /// Refuses the token `jti` of `issuer` on every replica until `expires_at` (Unix
    /// seconds: the token's `exp`). This replica refuses it when this returns; the others
    /// when they hear of it (see the module docs).
    ///
    /// # Errors
    /// The [`RedisError`] of a write that did not happen: the entry is then in this
    /// replica's local copy only.
    pub async fn revoke_jti(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: u64,
    ) -> Result<(), RedisError> {
        let entry = Entry {
            rule: Rule::Token,
            expires_at,
        };
        self.add(RevocationKey::token(issuer, jti), entry).await
    }

    /// Refuses every token of `subject` at `issuer` issued before `before` (Unix seconds),
    /// on every replica, until `expires_at` (`before` plus the longest lifetime of the
    /// issuer's tokens). An earlier instant never replaces a later one.
    ///
    /// # Errors
    /// As [`RedisRevocations::revoke_jti`].
    pub async fn revoke_subject_before(
        &self,
        issuer: &str,
        subject: &str,
        before: u64,
        expires_at: u64,
    ) -> Result<(), RedisError> {
        let entry = Entry {
            rule: Rule::IssuedBefore(before),
            expires_at,
        };
        self.add(RevocationKey::subject(issuer, subject), entry)
            .await
    }

    async fn add(&self, key: RevocationKey, entry: Entry) -> Result<(), RedisError> {
        let inner = &*self.inner;
        inner.local.insert(key, entry);
        inner.answers.remove(&key);
        let now = inner.clock.now_unix();
        if (entry.expires_at as f64) <= now {
            return Ok(());
        }
        let redis_key = self.redis_key(&key);
        let expires_ms = entry.expires_at.saturating_mul(1000);
        let write = match entry.rule {
            Rule::Token => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&redis_key).arg("t").arg("PXAT").arg(expires_ms);
                cmd
            }
            Rule::IssuedBefore(before) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(MERGE_SUBJECT)
                    .arg(1)
                    .arg(&redis_key)
                    .arg(before)
                    .arg(expires_ms);
                cmd
            }
        };
        inner.store.query::<redis::Value>(&write).await?;
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&*inner.channel).arg(message(&key, &entry));
        if let Err(e) = inner.store.query::<redis::Value>(&publish).await {
            // Written, not announced: the other replicas refuse the token when their
            // remembered answer goes stale (fresh_for), not at once.
            tracing::warn!(
                target: "portcullis::revocation",
                reason = %e,
                "a revocation was written to Redis but not announced; the other replicas \
                 refuse it within fresh_for"
            );
        }
        Ok(())
    }

    fn standing(&self, lookup: &Lookup) -> RevocationCheck {
        let inner = &*self.inner;
        if inner.local.standing(lookup) == Standing::Revoked {
            inner.local_answers.fetch_add(1, Ordering::Relaxed);
            return RevocationCheck::Ready(Ok(Standing::Revoked));
        }
        if lookup.token.is_none() && lookup.subject.is_none() {
            return RevocationCheck::Ready(Ok(Standing::NotRevoked));
        }
        let since = inner.clock.now_unix() - inner.fresh_for;
        if inner.subscribed.load(Ordering::Acquire) {
            let token = lookup.token.map(|k| inner.answers.fresh(&k, since));
            let subject = lookup.subject.map(|k| inner.answers.fresh(&k, since));
            // Every key answered recently (`None` here is a key the token does not have).
            if token.is_none_or(|a| a.is_some()) && subject.is_none_or(|a| a.is_some()) {
                let entry = |a: Option<Option<Option<Rule>>>| {
                    a.flatten().flatten().map(|rule| Entry {
                        rule,
                        expires_at: u64::MAX,
                    })
                };
                let refused = lookup.refused_by(entry(token).as_ref(), entry(subject).as_ref());
                inner.local_answers.fetch_add(1, Ordering::Relaxed);
                return RevocationCheck::Ready(Ok(if refused {
                    Standing::Revoked
                } else {
                    Standing::NotRevoked
                }));
            }
        }
        let heard = inner.heard.load(Ordering::Acquire);
        let keys: Vec<RevocationKey> = lookup.token.into_iter().chain(lookup.subject).collect();
        let list = self.clone();
        let lookup = *lookup;
        RevocationCheck::Pending(Box::pin(async move { list.ask(lookup, keys, heard).await }))
    }

    async fn ask(
        &self,
        lookup: Lookup,
        keys: Vec<RevocationKey>,
        heard: u64,
    ) -> Result<Standing, RevocationError> {
        let inner = &*self.inner;
        inner.round_trips.fetch_add(1, Ordering::Relaxed);
        // An answer is as old as the question: an entry written while the reply travels is
        // one this answer may have missed.
        let asked_at = inner.clock.now_unix();
        let mut get = redis::cmd("MGET");
        for key in &keys {
            get.arg(self.redis_key(key));
        }
        let values = match inner.store.query::<Vec<Option<String>>>(&get).await {
            Ok(values) if values.len() == keys.len() => values,
            Ok(_) => return self.unavailable(&lookup, "an unexpected reply to MGET"),
            Err(e) => return self.unavailable(&lookup, &e.to_string()),
        };
        let mut token = None;
        let mut subject = None;
        // Remembered only if no message (nor a change of the subscription) came while Redis
        // was asked: a message may be the entry this answer missed.
        let remember = inner.fresh_for > 0.0 && inner.heard.load(Ordering::Acquire) == heard;
        // An entry found is kept in the local copy as long as this token lives: it then
        // refuses the token without Redis, also when Redis is down (fail open).
        let keep_until = whole_seconds(lookup.expires_at.unwrap_or(asked_at + 3600.0));
        for (key, value) in keys.iter().zip(&values) {
            let rule = value.as_deref().map(read_rule);
            if remember {
                inner
                    .answers
                    .insert(*key, asked_at, rule, asked_at - inner.fresh_for);
            }
            let entry = rule.map(|rule| Entry {
                rule,
                expires_at: keep_until,
            });
            if let Some(entry) = entry {
                inner.local.insert(*key, entry);
            }
            if Some(*key) == lookup.token {
                token = entry;
            } else {
                subject = entry;
            }
        }
        Ok(if lookup.refused_by(token.as_ref(), subject.as_ref()) {
            Standing::Revoked
        } else {
            Standing::NotRevoked
        })
    }

    fn unavailable(&self, lookup: &Lookup, reason: &str) -> Result<Standing, RevocationError> {
        let inner = &*self.inner;
        inner.failures.fetch_add(1, Ordering::Relaxed);
        let now = inner.clock.now_unix();
        let last = f64::from_bits(inner.logged.load(Ordering::Relaxed));
        let log = now - last >= 1.0;
        if log {
            inner.logged.store(now.to_bits(), Ordering::Relaxed);
        }
        match inner.policy {
            RevocationPolicy::FailClosed => {
                if log {
                    tracing::warn!(
                        target: "portcullis::revocation",
                        reason,
                        "revocation list unavailable; requests are answered 503 (fail closed)"
                    );
                }
                Err(RevocationError::new(reason))
            }
            RevocationPolicy::FailOpen => {
                if log {
                    tracing::warn!(
                        target: "portcullis::revocation",
                        reason,
                        "revocation list unavailable; answering from the entries this replica \
                         has heard of (fail open)"
                    );
                }
                Ok(inner.local.standing(lookup))
            }
        }
    }
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("store", &self.inner.store)
            .field("policy", &self.inner.policy)
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

impl RevocationList for RedisRevocations {
    fn check(&self, claims: &Claims) -> RevocationCheck {
        self.standing(&Lookup::of(claims))
    }
}

/// Unix seconds, rounded up; 0 for what is not a positive finite time.
// The value is checked finite and positive, and saturates at u64::MAX: no truncation that
// matters, no sign lost.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole_seconds(unix: f64) -> u64 {
    if unix.is_finite() && unix > 0.0 {
        unix.ceil() as u64
    } else {
        0
    }
}

/// The rule a stored value holds: `s{seconds}` an instant, anything else a token entry (an
/// unreadable value still names a revoked key: refused rather than guessed).
fn read_rule(value: &str) -> Rule {
    match value.strip_prefix('s') {
        Some(before) => Rule::IssuedBefore(before.parse().unwrap_or(u64::MAX)),
        None => Rule::Token,
    }
}

/// Keeps the later instant and the later expiry of a subject entry.
const MERGE_SUBJECT: &str = r"
local old = redis.call('GET', KEYS[1])
local before = tonumber(ARGV[1])
if old then
  local was = tonumber(string.sub(old, 2)) or 0
  if was > before then before = was end
end
local ttl = redis.call('PEXPIRETIME', KEYS[1])
local expires = tonumber(ARGV[2])
if ttl > expires then expires = ttl end
redis.call('SET', KEYS[1], 's' .. string.format('%d', before), 'PXAT', expires)
return 1
";

/// `v1 {hex key} t {expires_at}` or `v1 {hex key} s{before} {expires_at}`.
fn message(key: &RevocationKey, entry: &Entry) -> String {
    let mut m = String::with_capacity(100);
    m.push_str("v1 ");
    for b in key.as_bytes() {
        let _ = write!(m, "{b:02x}");
    }
    match entry.rule {
        Rule::Token => m.push_str(" t "),
        Rule::IssuedBefore(before) => {
            let _ = write!(m, " s{before} ");
        }
    }
    let _ = write!(m, "{}", entry.expires_at);
    m
}

fn parse_message(m: &str) -> Option<(RevocationKey, Entry)> {
    let mut parts = m.split(' ');
    if parts.next()? != "v1" {
        return None;
    }
    let hex = parts.next()?;
    let rule = parts.next()?;
    let expires_at: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, out) in bytes.iter_mut().enumerate() {
        *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let rule = match rule {
        "t" => Rule::Token,
        s => Rule::IssuedBefore(s.strip_prefix('s')?.parse().ok()?),
    };
    Some((RevocationKey::from_bytes(bytes), Entry { rule, expires_at }))
}

/// Hears of new entries until the list is dropped; reconnects with a backoff.
async fn subscribe(list: Weak<Inner>, stop: Arc<tokio::sync::Notify>) {
    tokio::select! {
        () = stop.notified() => {}
        () = listen(list) => {}
    }
}

async fn listen(list: Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(inner) = list.upgrade() else { return };
        let client = inner.store.subscriber().clone();
        let channel = inner.channel.clone();
        let connect_timeout = inner.store.connect_timeout();
        drop(inner);
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&*channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(connect_timeout, connected).await {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                let Some(inner) = list.upgrade() else { return };
                // Anything remembered before is from a time this replica may have missed
                // messages, and so is an answer still on its way.
                inner.answers.clear();
                inner.heard.fetch_add(1, Ordering::AcqRel);
                inner.subscribed.store(true, Ordering::Release);
                drop(inner);
                let mut messages = pubsub.into_on_message();
                while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
                    let Some(inner) = list.upgrade() else { return };
                    inner.heard.fetch_add(1, Ordering::AcqRel);
                    match std::str::from_utf8(message.get_payload_bytes())
                        .ok()
                        .and_then(parse_message)
                    {
                        Some((key, entry)) => {
                            inner.local.insert(key, entry);
                            inner.answers.remove(&key);
                        }
                        // Not ours to read: forget every "not revoked" to be safe.
                        None => inner.answers.clear(),
                    }
                }
                if let Some(inner) = list.upgrade() {
                    inner.subscribed.store(false, Ordering::Release);
                    inner.heard.fetch_add(1, Ordering::AcqRel);
                    inner.answers.clear();
                    tracing::warn!(
                        target: "portcullis::revocation",
                        "revocation channel lost; every check asks Redis until it is back"
                    );
                }
            }
            Ok(Err(e)) => {
                if let Some(inner) = list.upgrade() {
                    inner.subscribed.store(false, Ordering::Release);
                    tracing::debug!(
                        target: "portcullis::revocation",
                        reason = %inner.store.error(&e),
                        "revocation channel: cannot subscribe yet"
                    );
                }
            }
            Err(_) => {
                if let Some(inner) = list.upgrade() {
                    inner.subscribed.store(false, Ordering::Release);
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_and_nothing_else_reads() {
        let key = RevocationKey::token("https://i", "j");
        for entry in [
            Entry {
                rule: Rule::Token,
                expires_at: 1_700_000_000,
            },
            Entry {
                rule: Rule::IssuedBefore(1_699_999_000),
                expires_at: 1_700_003_600,
            },
        ] {
            let m = message(&key, &entry);
            assert_eq!(parse_message(&m), Some((key, entry)), "{m}");
        }
        let good = message(
            &key,
            &Entry {
                rule: Rule::Token,
                expires_at: 5,
            },
        );
        for bad in [
            "",
            "v2 00 t 5",
            "v1 zz t 5",
            &good.replace(" t ", " x "),
            &good.replace(" t ", " s "),
            &format!("{good} extra"),
            &good[..good.len() - 1].replace(" t ", " t -"),
            &good.replacen("v1 ", "v1 0", 1),
        ] {
            assert_eq!(parse_message(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_are_fresh_for_their_window_and_bounded() {
        let answers = Answers::new(32);
        let key = RevocationKey::token("i", "a");
        answers.insert(key, 10.0, None, 0.0);
        assert_eq!(answers.fresh(&key, 9.9), Some(None));
        assert_eq!(answers.fresh(&key, 10.0), None);
        answers.insert(key, 10.0, Some(Rule::IssuedBefore(3)), 0.0);
        assert_eq!(answers.fresh(&key, 9.9), Some(Some(Rule::IssuedBefore(3))));
        answers.remove(&key);
        assert_eq!(answers.fresh(&key, 0.0), None);
        for i in 0..1000 {
            answers.insert(RevocationKey::token("i", &i.to_string()), 10.0, None, 0.0);
        }
        let held: usize = answers.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 32, "{held}");
        answers.clear();
        assert_eq!(answers.fresh(&RevocationKey::token("i", "999"), 0.0), None);
    }

    #[test]
    fn a_full_shard_drops_its_stale_answers_and_keeps_the_fresh_ones() {
        let answers = Answers::new(SHARDS * 4);
        // Keys of one shard (the first byte of the digest chooses it).
        let keys: Vec<RevocationKey> = (0u32..)
            .map(|i| RevocationKey::token("i", &i.to_string()))
            .filter(|k| usize::from(k.as_bytes()[0]) % SHARDS == 3)
            .take(6)
            .collect();
        for key in &keys[..2] {
            answers.insert(*key, 1.0, None, 0.0); // stale by the time of the next ones
        }
        for key in &keys[2..4] {
            answers.insert(*key, 100.0, None, 50.0);
        }
        // The shard is full (4): the next new key makes room by dropping what is stale.
        answers.insert(keys[4], 100.0, None, 50.0);
        for key in &keys[2..5] {
            assert_eq!(answers.fresh(key, 50.0), Some(None));
        }
        assert_eq!(
            answers.fresh(&keys[0], 0.0),
            None,
            "a stale answer was dropped"
        );
        // Updating a key already there never purges.
        answers.insert(keys[4], 101.0, None, 100.5);
        assert_eq!(answers.fresh(&keys[2], 50.0), Some(None));
        let held = answers.shards[3].lock().unwrap().len();
        assert_eq!(held, 3);
    }

    #[test]
    fn stored_values_read_as_rules_and_unknown_ones_refuse() {
        assert_eq!(read_rule("t"), Rule::Token);
        assert_eq!(read_rule("s1700"), Rule::IssuedBefore(1700));
        assert_eq!(read_rule("s-1"), Rule::IssuedBefore(u64::MAX));
        assert_eq!(read_rule("garbage"), Rule::Token);
    }
}
