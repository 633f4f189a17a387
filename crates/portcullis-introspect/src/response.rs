//! Reading an RFC 7662 response: `active`, then the claims with the JWT claim rules.

use std::borrow::Cow;

use portcullis_core::{Claims, ErrorKind, Validator};
use serde::Deserialize;
use serde_json::Value;

use crate::cache::Verdict;
use crate::error::{IntrospectError, IntrospectErrorKind};

/// The members read before the claims. serde refuses a second `active`; the whole text is
/// read again by the strict claims parser, which refuses any repeated member.
#[derive(Deserialize)]
struct Head {
    active: bool,
    #[serde(default)]
    token_type: Option<Value>,
}

/// The `token_type` values of an access token. RFC 7662 takes them from RFC 6749's
/// registry (`Bearer`, case-insensitive; `DPoP` for a DPoP-bound token, RFC 9449 section
/// 6.2, accepted only with the `cnf.jkt` that binds it); some servers answer with the
/// RFC 8693 token type identifiers instead. Anything else (`refresh_token`, `N_A`) is
/// refused. A bound token's presentation is checked later, on every request: the verdict
/// is the token's, shared by all its presentations.
fn is_access_token(token_type: &str, claims: &Claims) -> bool {
    token_type.eq_ignore_ascii_case("bearer")
        || token_type == "access_token"
        || token_type == "urn:ietf:params:oauth:token-type:access_token"
        || (token_type.eq_ignore_ascii_case("dpop")
            && claims
                .confirmation()
                .is_some_and(|cnf| cnf.jwk_thumbprint().is_some()))
}

/// The verdict of a `200` response: inactive, active and refused by a rule, or active and
/// accepted.
///
/// # Errors
/// [`IntrospectErrorKind::InvalidResponse`] for a body that is not an RFC 7662 response: not
/// one strict JSON object, no boolean `active`. That is the endpoint failing, not a verdict.
pub(crate) fn read(body: &str, validator: &Validator) -> Result<Verdict, IntrospectError> {
    let head: Head = serde_json::from_str(body).map_err(|e| {
        IntrospectError::with_cause(
            IntrospectErrorKind::InvalidResponse("not a JSON object with a boolean `active`"),
            e,
        )
    })?;
    if !head.active {
        return Ok(Verdict::Refused(ErrorKind::Inactive.into()));
    }
    // Scopes and roles from the validator's sources, as for a JWT of the same issuer.
    let claims = match validator.trusted_claims(body) {
        Ok(claims) => claims,
        Err(e) if matches!(e.kind(), ErrorKind::Malformed(_)) => {
            return Err(IntrospectError::with_cause(
                IntrospectErrorKind::InvalidResponse("not one strict JSON object"),
                e,
            ));
        }
        // A registered claim of the wrong type: the token's claims are unusable.
        Err(e) => return Ok(Verdict::Refused(e)),
    };
    match &head.token_type {
        None => {}
        Some(Value::String(t)) if is_access_token(t, &claims) => {}
        Some(Value::String(_)) => return Ok(Verdict::Refused(ErrorKind::WrongType.into())),
        Some(_) => {
            return Ok(Verdict::Refused(
                ErrorKind::InvalidClaim(Cow::Borrowed("token_type")).into(),
            ));
        }
    }
    Ok(match validator.check_claims(&claims) {
        Ok(()) => Verdict::Active(claims),
        // The binding rule runs last: every other rule passed. Whether this token's proof is
        // there is a question for each presentation, not for the verdict.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::SenderConstrained | ErrorKind::CertificateMismatch
            ) =>
        {
            Verdict::Active(claims)
        }
        Err(e) => Verdict::Refused(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::ManualClock;

    fn rules() -> Validator {
        Validator::builder()
            .issuer("https://as.test")
            .audience("api")
            .clock(ManualClock::at(1_000))
            .build()
            .unwrap()
    }

    fn verdict(body: &str) -> Result<Result<Claims, ErrorKind>, IntrospectErrorKind> {
        read(body, &rules())
            .map(|v| {
                v.into_result()
                    .map_err(portcullis_core::AuthError::into_kind)
            })
            .map_err(|e| e.kind().clone())
    }

    const GOOD: &str = r#""iss":"https://as.test","aud":"api","exp":2000"#;

    #[test]
    fn active_tokens_get_the_claim_rules() {
        let ok = verdict(&format!(
            r#"{{"active":true,{GOOD},"scope":"a b","x":[1]}}"#
        ))
        .unwrap();
        let claims = ok.unwrap();
        assert_eq!(claims.scopes().as_str(), "a b");
        assert_eq!(claims.get("x"), Some(serde_json::json!([1])));
        assert_eq!(
            verdict(r#"{"active":true,"iss":"https://as.test","aud":"api","exp":900}"#)
                .unwrap()
                .err(),
            Some(ErrorKind::Expired)
        );
        assert_eq!(
            verdict(r#"{"active":true,"iss":"https://as.test","aud":"web","exp":2000}"#)
                .unwrap()
                .err(),
            Some(ErrorKind::WrongAudience)
        );
        assert_eq!(
            verdict(r#"{"active":true,"aud":"api","exp":2000}"#)
                .unwrap()
                .err(),
            Some(ErrorKind::MissingClaim("iss".into()))
        );
        assert_eq!(
            verdict(r#"{"active":true,"iss":"https://as.test","aud":"api","exp":"2000"}"#)
                .unwrap()
                .err(),
            Some(ErrorKind::InvalidClaim("exp".into()))
        );
    }

    #[test]
    fn scopes_and_roles_come_from_the_validators_sources() {
        use portcullis_core::ScopeSource;
        let sourced = Validator::builder()
            .issuer("https://as.test")
            .audience("api")
            .clock(ManualClock::at(1_000))
            .scope_sources([ScopeSource::Scope, "permissions".parse().unwrap()])
            .scope_prefix("orders/")
            .role_sources(["realm_access.roles".parse::<ScopeSource>().unwrap()])
            .build()
            .unwrap();
        let body = format!(
            r#"{{"active":true,{GOOD},"scope":"orders/read billing/read","permissions":["orders/write"],"roles":["ignored"],"realm_access":{{"roles":["admin"]}}}}"#
        );
        let claims = read(&body, &sourced).unwrap().into_result().unwrap();
        assert!(claims.scopes().contains("read"), "{:?}", claims.scopes());
        assert!(claims.scopes().contains("write"), "{:?}", claims.scopes());
        assert!(!claims.scopes().contains("billing/read"));
        assert!(!claims.scopes().contains("orders/read"));
        assert!(claims.roles().contains("admin"));
        assert!(!claims.roles().contains("ignored"));
        // Without sources, the RFC 7662 `scope` and the `roles` claim, as they are.
        let plain = read(&body, &rules()).unwrap().into_result().unwrap();
        assert!(plain.scopes().contains("orders/read"));
        assert!(!plain.scopes().contains("write"));
        assert!(plain.roles().contains("ignored"));
        assert!(!plain.roles().contains("admin"));
    }

    #[test]
    fn inactive_is_a_refusal_whatever_else_is_said() {
        assert_eq!(
            verdict(r#"{"active":false}"#).unwrap().err(),
            Some(ErrorKind::Inactive)
        );
        assert_eq!(
            verdict(r#"{"active":false,"exp":"junk","scope":1}"#)
                .unwrap()
                .err(),
            Some(ErrorKind::Inactive)
        );
    }

    #[test]
    fn only_bearer_access_tokens_pass() {
        for (token_type, ok) in [
            ("Bearer", true),
            ("bearer", true),
            ("access_token", true),
            ("urn:ietf:params:oauth:token-type:access_token", true),
            ("DPoP", false),
            ("refresh_token", false),
            ("N_A", false),
        ] {
            let body = format!(r#"{{"active":true,{GOOD},"token_type":"{token_type}"}}"#);
            let v = verdict(&body).unwrap();
            assert_eq!(v.is_ok(), ok, "{token_type}");
            if !ok {
                assert_eq!(v.unwrap_err(), ErrorKind::WrongType);
            }
        }
        assert_eq!(
            verdict(&format!(r#"{{"active":true,{GOOD},"token_type":1}}"#))
                .unwrap()
                .err(),
            Some(ErrorKind::InvalidClaim("token_type".into()))
        );
    }

    #[test]
    fn what_is_not_an_rfc_7662_response_is_the_endpoint_failing() {
        for body in [
            "",
            "<html>",
            "[]",
            r#"{"scope":"a"}"#,
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":true,"active":false}"#,
            r#"{"active":false,"active":true}"#,
        ] {
            assert!(
                matches!(verdict(body), Err(IntrospectErrorKind::InvalidResponse(_))),
                "{body}"
            );
        }
        // A repeat the head does not read is still caught by the strict parser.
        assert!(matches!(
            verdict(&format!(r#"{{"active":true,{GOOD},"sub":"a","sub":"b"}}"#)),
            Err(IntrospectErrorKind::InvalidResponse(_))
        ));
    }
}
