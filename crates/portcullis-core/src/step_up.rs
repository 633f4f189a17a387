//! Step-up authentication (RFC 9470): [`StepUp`], what a route requires of the login behind
//! a token (an authentication context class among given values, an authentication no older
//! than a maximum age), and its one check, [`StepUp::check`].
//!
//! A token that fails it is refused with [`ErrorKind::InsufficientUserAuthentication`], which
//! the adapters answer `401` with `error="insufficient_user_authentication"` and the
//! `acr_values` and `max_age` the client must ask its authorization server for. A token
//! without the `acr` or `auth_time` claim a requirement needs fails closed: an authorization
//! server that does not say how (or when) the user logged in has not shown a strong (or
//! recent) login.
//!
//! ```
//! use std::time::Duration;
//! use portcullis_core::{Claims, ErrorKind, StepUp};
//!
//! let sensitive = StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300)).validated().unwrap();
//! let now = 1_700_000_000.0;
//! let fresh_mfa = Claims::from_trusted_json(r#"{"acr":"mfa","auth_time":1699999900}"#).unwrap();
//! assert!(sensitive.check(&fresh_mfa, now).is_ok());
//!
//! let password = Claims::from_trusted_json(r#"{"acr":"pwd","auth_time":1699999900}"#).unwrap();
//! let refused = sensitive.check(&password, now).unwrap_err();
//! assert!(matches!(refused.kind(), ErrorKind::InsufficientUserAuthentication(_)));
//! ```

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::claims::Claims;
use crate::error::{AuthError, ConfigError, ErrorKind};

/// How far in the future (seconds) an `auth_time` may lie, for the clocks of the
/// authorization server and this server: the validator's default leeway.
const AUTH_TIME_SKEW: f64 = 60.0;

/// What a route requires of the authentication behind a token (RFC 9470 section 3): an
/// `acr` claim among [`StepUp::acr_values`], and/or an `auth_time` claim no older than
/// [`StepUp::max_age_secs`]. Check it with [`StepUp::check`]; validate one written in
/// configuration with [`StepUp::validated`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepUp {
    /// Accepted `acr` values, in the order of preference the challenge lists them in;
    /// empty: any (or no) `acr`.
    acr_values: Box<[Box<str>]>,
    /// The maximum age of the authentication, in seconds.
    max_age: Option<u64>,
}

/// Which part of a [`StepUp`] requirement a token failed: for logs, never for the client
/// (the challenge names the whole requirement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepUpShortfall {
    /// `acr` values are required and the token has no `acr` string.
    MissingAcr,
    /// The token's `acr` is not one of the accepted values.
    AcrNotAccepted,
    /// A maximum age is required and the token has no numeric `auth_time`.
    MissingAuthTime,
    /// The authentication is older than the maximum age.
    TooOld,
    /// `auth_time` lies in the future, beyond the clocks' skew.
    AuthTimeInFuture,
}

impl StepUpShortfall {
    /// A short stable name, for logs: `missing_acr`, `acr_not_accepted`, ...
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            StepUpShortfall::MissingAcr => "missing_acr",
            StepUpShortfall::AcrNotAccepted => "acr_not_accepted",
            StepUpShortfall::MissingAuthTime => "missing_auth_time",
            StepUpShortfall::TooOld => "authentication_too_old",
            StepUpShortfall::AuthTimeInFuture => "auth_time_in_future",
        }
    }
}

impl fmt::Display for StepUpShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepUpShortfall::MissingAcr => "the token has no `acr` claim",
            StepUpShortfall::AcrNotAccepted => "the token's `acr` is not accepted",
            StepUpShortfall::MissingAuthTime => "the token has no `auth_time` claim",
            StepUpShortfall::TooOld => "the authentication is older than the maximum age",
            StepUpShortfall::AuthTimeInFuture => "the token's `auth_time` is in the future",
        })
    }
}

/// A refused [`StepUp`]: the requirement (what the challenge asks for) and the shortfall
/// (what the logs say).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepUpRefusal {
    required: StepUp,
    shortfall: StepUpShortfall,
}

impl StepUpRefusal {
    /// The requirement the token failed.
    #[must_use]
    pub fn required(&self) -> &StepUp {
        &self.required
    }

    /// Which part of it.
    #[must_use]
    pub fn shortfall(&self) -> StepUpShortfall {
        self.shortfall
    }
}

impl fmt::Display for StepUpRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, requires {}", self.shortfall, self.required)
    }
}

impl StepUp {
    /// Requires an `acr` claim equal to one of `values` (compared exactly), listed in the
    /// challenge's `acr_values` in this order (RFC 9470 says in order of preference).
    #[must_use]
    pub fn acr<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        StepUp {
            acr_values: collect(values),
            max_age: None,
        }
    }

    /// Requires an `auth_time` claim no older than `age` (whole seconds; a fraction is cut
    /// off).
    #[must_use]
    pub fn max_age(age: Duration) -> Self {
        StepUp {
            acr_values: Box::default(),
            max_age: Some(age.as_secs()),
        }
    }

    /// This requirement, also requiring an `acr` among `values` (replacing earlier ones).
    #[must_use]
    pub fn and_acr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values = collect(values);
        self
    }

    /// This requirement, also requiring an authentication no older than `age`.
    #[must_use]
    pub fn and_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age.as_secs());
        self
    }

    /// The accepted `acr` values (none when any `acr` will do).
    pub fn acr_values(&self) -> impl Iterator<Item = &str> {
        self.acr_values.iter().map(|v| &**v)
    }

    /// The maximum age of the authentication, in seconds, if one is required.
    #[must_use]
    pub fn max_age_secs(&self) -> Option<u64> {
        self.max_age
    }

    /// The `acr_values` challenge parameter: the values, space-separated (empty when none).
    #[must_use]
    pub fn to_acr_values_param(&self) -> String {
        self.acr_values.join(" ")
    }

    /// This requirement, if it can be a route's rule: it requires something (`acr` values or
    /// a maximum age), and every `acr` value can be written in a challenge (printable ASCII,
    /// no space, `"` or `\`).
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "step_up" }`.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self.acr_values.is_empty() && self.max_age.is_none() {
            return Err(ConfigError::invalid(
                "step_up",
                "a step-up requirement needs acr values, a maximum age, or both",
            ));
        }
        if let Some(bad) = self.acr_values.iter().find(|v| !is_acr_value(v)) {
            return Err(ConfigError::invalid(
                "step_up",
                format!(
                    "{bad:?} cannot be an acr value of a challenge (printable ASCII without \
                     spaces, quotes or backslashes)"
                ),
            ));
        }
        Ok(self)
    }

    /// Checks the token's `acr` and `auth_time` against this requirement as of `now` (Unix
    /// seconds, from the verifier's clock).
    ///
    /// `auth_time` is accepted up to 60 s in the future (the clocks' skew, as the
    /// validator's default leeway) and must be no older than the maximum age, exactly.
    ///
    /// # Errors
    /// [`ErrorKind::InsufficientUserAuthentication`] naming this requirement and the
    /// shortfall: a missing or non-string `acr`, an `acr` not accepted, a missing or
    /// non-numeric `auth_time`, an authentication too old or in the future.
    pub fn check(&self, claims: &Claims, now: f64) -> Result<(), AuthError> {
        match self.shortfall(claims, now) {
            None => Ok(()),
            Some(shortfall) => Err(ErrorKind::InsufficientUserAuthentication(Box::new(
                StepUpRefusal {
                    required: self.clone(),
                    shortfall,
                },
            ))
            .into()),
        }
    }

    fn shortfall(&self, claims: &Claims, now: f64) -> Option<StepUpShortfall> {
        // One parse of the payload for both claims; a payload that does not parse (it did
        // when it was verified) has neither.
        let login: Login = claims.deserialize().unwrap_or_default();
        if !self.acr_values.is_empty() {
            let Some(Value::String(acr)) = login.acr else {
                return Some(StepUpShortfall::MissingAcr);
            };
            if !self.acr_values.iter().any(|v| **v == *acr) {
                return Some(StepUpShortfall::AcrNotAccepted);
            }
        }
        if let Some(max_age) = self.max_age {
            let auth_time = match login.auth_time {
                Some(Value::Number(n)) => n.as_f64().filter(|t| t.is_finite()),
                _ => None,
            };
            let Some(auth_time) = auth_time else {
                return Some(StepUpShortfall::MissingAuthTime);
            };
            if auth_time > now + AUTH_TIME_SKEW {
                return Some(StepUpShortfall::AuthTimeInFuture);
            }
            // u64 seconds to f64: exact below 2^53, far beyond any age.
            #[allow(clippy::cast_precision_loss)]
            let max_age = max_age as f64;
            if now - auth_time > max_age {
                return Some(StepUpShortfall::TooOld);
            }
        }
        None
    }
}

impl fmt::Display for StepUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&*self.acr_values, self.max_age) {
            ([], Some(age)) => write!(f, "an authentication no older than {age} s"),
            (values, None) => write!(f, "acr {}", values.join(" or ")),
            (values, Some(age)) => write!(f, "acr {} no older than {age} s", values.join(" or ")),
        }
    }
}

/// The two claims of a login, of any JSON type (the check decides what a wrong type means).
#[derive(Debug, Default, serde::Deserialize)]
struct Login {
    #[serde(default)]
    acr: Option<Value>,
    #[serde(default)]
    auth_time: Option<Value>,
}

fn collect<I, S>(values: I) -> Box<[Box<str>]>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values
        .into_iter()
        .map(|v| v.into().into_boxed_str())
        .collect()
}

/// A value `acr_values="..."` can carry: printable ASCII, no space (the separator), `"` or
/// `\`.
fn is_acr_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    #[test]
    fn a_step_up_lists_its_acr_values_and_each_shortfall_has_its_own_code() {
        let step_up = StepUp::acr(["mfa", "phr"]);
        assert_eq!(step_up.acr_values().collect::<Vec<_>>(), ["mfa", "phr"]);
        assert_eq!(
            StepUp::max_age(Duration::from_secs(60))
                .acr_values()
                .count(),
            0
        );
        let codes = [
            (StepUpShortfall::MissingAcr, "missing_acr"),
            (StepUpShortfall::AcrNotAccepted, "acr_not_accepted"),
            (StepUpShortfall::MissingAuthTime, "missing_auth_time"),
            (StepUpShortfall::TooOld, "authentication_too_old"),
            (StepUpShortfall::AuthTimeInFuture, "auth_time_in_future"),
        ];
        for (shortfall, code) in codes {
            assert_eq!(shortfall.code(), code);
        }
    }

    fn claims(json: &str) -> Claims {
        Claims::from_trusted_json(json).unwrap()
    }

    fn shortfall(requirement: &StepUp, json: &str) -> Option<StepUpShortfall> {
        match requirement.check(&claims(json), NOW) {
            Ok(()) => None,
            Err(e) => match e.kind() {
                ErrorKind::InsufficientUserAuthentication(refusal) => {
                    assert_eq!(refusal.required(), requirement);
                    Some(refusal.shortfall())
                }
                other => panic!("{other:?}"),
            },
        }
    }

    #[test]
    fn acr_must_be_one_of_the_values_as_a_string() {
        let mfa = StepUp::acr(["mfa", "phr"]);
        assert_eq!(shortfall(&mfa, r#"{"acr":"mfa"}"#), None);
        assert_eq!(shortfall(&mfa, r#"{"acr":"phr"}"#), None);
        assert_eq!(
            shortfall(&mfa, r#"{"acr":"pwd"}"#),
            Some(StepUpShortfall::AcrNotAccepted)
        );
        // Exact comparison: no case folding, no prefix.
        assert_eq!(
            shortfall(&mfa, r#"{"acr":"MFA"}"#),
            Some(StepUpShortfall::AcrNotAccepted)
        );
        assert_eq!(
            shortfall(&mfa, r#"{"acr":"mf"}"#),
            Some(StepUpShortfall::AcrNotAccepted)
        );
        for missing in [
            r"{}",
            r#"{"acr":null}"#,
            r#"{"acr":["mfa"]}"#,
            r#"{"acr":1}"#,
        ] {
            assert_eq!(
                shortfall(&mfa, missing),
                Some(StepUpShortfall::MissingAcr),
                "{missing}"
            );
        }
    }

    #[test]
    fn auth_time_must_be_recent_and_not_in_the_future() {
        let recent = StepUp::max_age(Duration::from_secs(300));
        assert_eq!(shortfall(&recent, r#"{"auth_time":1699999700}"#), None);
        assert_eq!(
            shortfall(&recent, r#"{"auth_time":1699999699}"#),
            Some(StepUpShortfall::TooOld)
        );
        assert_eq!(
            shortfall(&recent, r#"{"auth_time":1699999699.5}"#),
            Some(StepUpShortfall::TooOld)
        );
        assert_eq!(shortfall(&recent, r#"{"auth_time":1700000060}"#), None);
        assert_eq!(
            shortfall(&recent, r#"{"auth_time":1700000061}"#),
            Some(StepUpShortfall::AuthTimeInFuture)
        );
        for missing in [
            r"{}",
            r#"{"auth_time":"1699999900"}"#,
            r#"{"auth_time":null}"#,
        ] {
            assert_eq!(
                shortfall(&recent, missing),
                Some(StepUpShortfall::MissingAuthTime),
                "{missing}"
            );
        }
        // Zero: a login in this very second (or just ahead of this clock).
        let now_only = StepUp::max_age(Duration::ZERO);
        assert_eq!(shortfall(&now_only, r#"{"auth_time":1700000000}"#), None);
        assert_eq!(
            shortfall(&now_only, r#"{"auth_time":1699999999}"#),
            Some(StepUpShortfall::TooOld)
        );
    }

    #[test]
    fn both_parts_are_required_when_both_are_given() {
        let both = StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(60));
        assert_eq!(
            shortfall(&both, r#"{"acr":"mfa","auth_time":1699999950}"#),
            None
        );
        assert_eq!(
            shortfall(&both, r#"{"acr":"mfa","auth_time":1699999000}"#),
            Some(StepUpShortfall::TooOld)
        );
        assert_eq!(
            shortfall(&both, r#"{"acr":"pwd","auth_time":1699999950}"#),
            Some(StepUpShortfall::AcrNotAccepted)
        );
        assert_eq!(
            shortfall(&both, r#"{"acr":"mfa"}"#),
            Some(StepUpShortfall::MissingAuthTime)
        );
        // Only acr: auth_time does not matter.
        assert_eq!(
            shortfall(&StepUp::acr(["mfa"]), r#"{"acr":"mfa","auth_time":1}"#),
            None
        );
    }

    #[test]
    fn requirements_that_require_nothing_or_cannot_be_challenged_are_refused() {
        let none: [&str; 0] = [];
        for bad in [
            StepUp::acr(none),
            StepUp::acr(["a b"]),
            StepUp::acr([""]),
            StepUp::acr(["\"q\""]),
            StepUp::acr(["back\\slash"]),
            StepUp::acr(["é"]),
        ] {
            assert!(bad.clone().validated().is_err(), "{bad:?}");
        }
        let good = StepUp::acr(["urn:mace:incommon:iap:silver", "mfa"])
            .and_max_age(Duration::from_secs(10));
        assert_eq!(good.clone().validated().unwrap(), good);
        assert_eq!(
            good.to_acr_values_param(),
            "urn:mace:incommon:iap:silver mfa"
        );
        assert_eq!(good.max_age_secs(), Some(10));
        assert!(
            StepUp::max_age(Duration::from_millis(1500))
                .validated()
                .is_ok()
        );
        assert_eq!(
            StepUp::max_age(Duration::from_millis(1500)).max_age_secs(),
            Some(1)
        );
    }

    #[test]
    fn the_requirement_reads_as_text() {
        assert_eq!(StepUp::acr(["mfa", "phr"]).to_string(), "acr mfa or phr");
        assert_eq!(
            StepUp::max_age(Duration::from_secs(300)).to_string(),
            "an authentication no older than 300 s"
        );
        assert_eq!(
            StepUp::acr(["mfa"])
                .and_max_age(Duration::from_secs(5))
                .to_string(),
            "acr mfa no older than 5 s"
        );
    }
}
