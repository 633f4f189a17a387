// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The validator rules that real providers need: issuer templates bound to `tid` with a
//! tenant allowlist, the client claim in place of `aud`, scopes and roles read from other
//! claims (with Cognito's prefix), and the issuer's claim rules; each on signed tokens and on
//! trusted (introspected) claims.

use portcullis_core::{
    Algorithm, ClaimRule, Claims, ConfigErrorKind, ErrorKind, IssuerTemplate, KeySet, ManualClock,
    ScopeSource, Validator, ValidatorBuilder, VerifyingKey,
};
use portcullis_testkit::{TestKey, TokenBuilder};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const V2: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const OTHER: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn key() -> TestKey {
    TestKey::hmac(Algorithm::HS256, &[9u8; 32]).with_kid("k")
}

fn keys() -> KeySet {
    KeySet::new(vec![
        VerifyingKey::hmac(Algorithm::HS256, &[9u8; 32])
            .unwrap()
            .with_kid("k"),
    ])
}

fn builder() -> ValidatorBuilder {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .clock(ManualClock::at(NOW))
}

fn token() -> TokenBuilder {
    TokenBuilder::new(&key()).now(NOW)
}

fn check(v: &Validator, t: &TokenBuilder) -> Result<Claims, ErrorKind> {
    v.validate(&t.sign(), &keys()).map_err(|e| e.into_kind())
}

fn entra() -> Validator {
    builder()
        .issuer_template(IssuerTemplate::parse(V2).unwrap().tenants([TENANT]))
        .audience("api-client-id")
        .build()
        .unwrap()
}

fn entra_token(iss_tenant: &str, tid: &str) -> TokenBuilder {
    token()
        .issuer(&V2.replace("{tenantid}", iss_tenant))
        .claim("tid", json!(tid))
        .audience("api-client-id")
}

#[test]
fn a_template_accepts_the_iss_of_the_tokens_own_allowed_tenant() {
    let claims = check(&entra(), &entra_token(TENANT, TENANT)).unwrap();
    assert_eq!(claims.tenant_id(), Some(TENANT));
}

#[test]
fn a_template_refuses_another_tenant_and_a_tid_that_is_not_the_iss_tenant() {
    let v = entra();
    assert_eq!(
        check(&v, &entra_token(OTHER, OTHER)).unwrap_err(),
        ErrorKind::TenantNotAllowed
    );
    // An allowed tenant's `iss` with another `tid`, or without `tid`: never bound.
    assert_eq!(
        check(&v, &entra_token(TENANT, OTHER)).unwrap_err(),
        ErrorKind::WrongIssuer
    );
    assert_eq!(
        check(&v, &entra_token(TENANT, TENANT).remove_claim("tid")).unwrap_err(),
        ErrorKind::WrongIssuer
    );
    assert_eq!(
        check(&v, &entra_token(TENANT, TENANT).claim("tid", json!(7))).unwrap_err(),
        ErrorKind::WrongIssuer
    );
    // The template itself is not an issuer, nor is another shape.
    assert_eq!(
        check(&v, &entra_token(TENANT, TENANT).issuer(V2)).unwrap_err(),
        ErrorKind::WrongIssuer
    );
    assert_eq!(
        check(
            &v,
            &entra_token(TENANT, TENANT).issuer(&format!("https://sts.windows.net/{TENANT}/"))
        )
        .unwrap_err(),
        ErrorKind::WrongIssuer
    );
}

#[test]
fn entra_v1_and_v2_templates_together() {
    let v = builder()
        .issuer_template(IssuerTemplate::parse(V2).unwrap().tenants([TENANT]))
        .issuer_template(
            IssuerTemplate::parse("https://sts.windows.net/{tenantid}/")
                .unwrap()
                .tenants([TENANT]),
        )
        .audience("api-client-id")
        .audience("api://orders")
        .build()
        .unwrap();
    assert!(check(&v, &entra_token(TENANT, TENANT)).is_ok());
    let v1 = entra_token(TENANT, TENANT)
        .issuer(&format!("https://sts.windows.net/{TENANT}/"))
        .audience("api://orders");
    assert!(check(&v, &v1).is_ok());
}

#[test]
fn a_template_without_tenants_is_refused_unless_waived_by_name() {
    let open = builder()
        .issuer_template(IssuerTemplate::parse(V2).unwrap())
        .audience("api-client-id")
        .build()
        .unwrap_err();
    assert!(matches!(
        open.kind(),
        ConfigErrorKind::Missing {
            setting: "tenants",
            ..
        }
    ));
    let any = builder()
        .issuer_template(
            IssuerTemplate::parse(V2)
                .unwrap()
                .danger_accept_any_tenant(),
        )
        .audience("api-client-id")
        .build()
        .unwrap();
    assert!(check(&any, &entra_token(OTHER, OTHER)).is_ok());
    assert_eq!(
        check(&any, &entra_token(OTHER, TENANT)).unwrap_err(),
        ErrorKind::WrongIssuer
    );
}

fn cognito() -> Validator {
    builder()
        .issuer("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool")
        .audience("app-client-1")
        .audience_claim("client_id")
        .claim_rule(ClaimRule::equals("token_use", "access"))
        .scope_prefix("notes/")
        .build()
        .unwrap()
}

fn cognito_token() -> TokenBuilder {
    token()
        .issuer("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool")
        .remove_claim("aud")
        .claim("client_id", json!("app-client-1"))
        .claim("token_use", json!("access"))
        .scope("notes/read billing/write openid notes/")
}

#[test]
fn the_client_claim_replaces_aud_as_strictly() {
    let v = cognito();
    let claims = check(&v, &cognito_token()).unwrap();
    // Only this resource server's scopes, prefix off; another's never count.
    assert_eq!(claims.scopes().as_str(), "read");
    assert!(!claims.scopes().contains("write"));
    for (t, refused) in [
        (
            cognito_token().claim("client_id", json!("app-client-2")),
            ErrorKind::WrongAudience,
        ),
        (
            cognito_token().remove_claim("client_id"),
            ErrorKind::MissingClaim("client_id".into()),
        ),
        // An `aud` naming the client does not stand in for the client claim.
        (
            cognito_token()
                .remove_claim("client_id")
                .audience("app-client-1"),
            ErrorKind::MissingClaim("client_id".into()),
        ),
    ] {
        assert_eq!(check(&v, &t).unwrap_err(), refused);
    }
}

#[test]
fn an_id_token_fails_the_issuers_rule() {
    let v = cognito();
    let id_token = cognito_token().claim("token_use", json!("id"));
    let refused = check(&v, &id_token).unwrap_err();
    assert_eq!(
        refused,
        ErrorKind::ClaimRuleFailed(ClaimRule::equals("token_use", "access"))
    );
    assert_eq!(refused.code(), "claim_rule_failed");
    let untyped = cognito_token().remove_claim("token_use");
    assert!(matches!(
        check(&v, &untyped).unwrap_err(),
        ErrorKind::ClaimRuleFailed(_)
    ));
}

#[test]
fn scopes_from_several_sources_merged() {
    let v = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .scope_sources([
            ScopeSource::Scp,
            ScopeSource::Roles,
            "realm_access.roles".parse().unwrap(),
        ])
        .build()
        .unwrap();
    let t = token()
        .remove_claim("scope")
        .claim("scp", json!("a b"))
        .claim("roles", json!(["c", "a", "with space", 5]))
        .claim("realm_access", json!({"roles": ["d"]}));
    let claims = check(&v, &t).unwrap();
    assert_eq!(claims.scopes().as_str(), "a b c d");
    // `scope` is not a source here: its value grants nothing.
    let only_scope = token().scope("e");
    assert!(check(&v, &only_scope).unwrap().scopes().is_empty());
    // A source of another JSON type grants nothing and refuses nothing (`scope` and `scp`
    // keep their type rule as registered claims: of another type, they refuse the token).
    let odd = token()
        .remove_claim("scope")
        .claim("realm_access", json!({"roles": {"x": 1}}));
    assert!(check(&v, &odd).unwrap().scopes().is_empty());
    let bad_scp = token().remove_claim("scope").claim("scp", json!({"x": 1}));
    assert_eq!(
        check(&v, &bad_scp).unwrap_err(),
        ErrorKind::InvalidClaim("scp".into())
    );
}

#[test]
fn the_default_scopes_and_roles_are_unchanged() {
    let v = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .build()
        .unwrap();
    let t = token()
        .scope("a b")
        .claim("scp", json!(["c"]))
        .claim("roles", json!(["Orders.Read", "x y"]));
    let claims = check(&v, &t).unwrap();
    assert_eq!(claims.scopes().as_str(), "a b");
    assert_eq!(claims.roles().as_str(), "Orders.Read");
    let string_roles = token().claim("roles", json!("r1 r2"));
    assert_eq!(check(&v, &string_roles).unwrap().roles().as_str(), "r1 r2");
    // A `roles` of another type grants none and refuses nothing.
    let odd = token().claim("roles", json!(true));
    assert!(check(&v, &odd).unwrap().roles().is_empty());
}

#[test]
fn roles_from_keycloak_paths() {
    let v = builder()
        .issuer("https://issuer.test")
        .audience("orders")
        .audience_claim("azp")
        .role_sources([
            "realm_access.roles".parse().unwrap(),
            "resource_access.orders.roles".parse().unwrap(),
        ])
        .build()
        .unwrap();
    let t = token()
        .audience("account")
        .claim("azp", json!("orders"))
        .claim("realm_access", json!({"roles": ["offline_access"]}))
        .claim(
            "resource_access",
            json!({"orders": {"roles": ["admin"]}, "other": {"roles": ["root"]}}),
        );
    let claims = check(&v, &t).unwrap();
    assert_eq!(claims.roles().as_str(), "offline_access admin");
    assert!(!claims.roles().contains("root"));
    assert_eq!(
        check(&v, &t.claim("azp", json!("other"))).unwrap_err(),
        ErrorKind::WrongAudience
    );
}

#[test]
fn the_rules_hold_for_introspected_claims_too() {
    let v = cognito();
    let good = Claims::from_trusted_json(&format!(
        r#"{{"iss":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool","client_id":"app-client-1","token_use":"access","exp":{}}}"#,
        NOW + 60
    ))
    .unwrap();
    assert!(v.check_claims(&good).is_ok());
    let id = Claims::from_trusted_json(&format!(
        r#"{{"iss":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool","client_id":"app-client-1","token_use":"id","exp":{}}}"#,
        NOW + 60
    ))
    .unwrap();
    assert!(matches!(
        v.check_claims(&id).unwrap_err().kind(),
        ErrorKind::ClaimRuleFailed(_)
    ));
    let other_tenant = Claims::from_trusted_json(&format!(
        r#"{{"iss":"https://login.microsoftonline.com/{OTHER}/v2.0","tid":"{OTHER}","aud":"api-client-id","exp":{}}}"#,
        NOW + 60
    ))
    .unwrap();
    assert_eq!(
        entra().check_claims(&other_tenant).unwrap_err().kind(),
        &ErrorKind::TenantNotAllowed
    );
}

#[test]
fn configuration_mistakes_are_refused() {
    let base = || builder().issuer("https://issuer.test").audience("api");
    for (b, setting) in [
        (base().scope_sources([]), "scope_sources"),
        (base().role_sources([]), "role_sources"),
        (base().scope_prefix(""), "scope_prefix"),
        (base().audience_claim(""), "audience_claim"),
        (
            base().claim_rule(ClaimRule::one_of("x", Vec::<String>::new())),
            "claim rule",
        ),
    ] {
        let e = b.build().unwrap_err();
        assert!(
            matches!(e.kind(), ConfigErrorKind::Invalid { setting: s, .. } if *s == setting),
            "{e}"
        );
    }
}

#[test]
fn each_source_setting_alone_changes_what_a_token_grants() {
    let t = token()
        .scope("notes/read other")
        .claim("realm_access", json!({"roles": ["admin"]}));
    // A prefix alone (default sources): only the prefixed scopes, prefix taken off.
    let prefixed = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .scope_prefix("notes/")
        .build()
        .unwrap();
    assert_eq!(check(&prefixed, &t).unwrap().scopes().as_str(), "read");
    // Role sources alone: roles from the path, scopes as usual.
    let keycloak = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .role_sources(["realm_access.roles".parse::<ScopeSource>().unwrap()])
        .build()
        .unwrap();
    let claims = check(&keycloak, &t).unwrap();
    assert!(claims.roles().contains("admin"));
    assert_eq!(claims.scopes().as_str(), "notes/read other");
    // Neither: roles from `roles` only.
    let plain = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .build()
        .unwrap();
    assert!(!check(&plain, &t).unwrap().roles().contains("admin"));
}

#[test]
fn an_issuers_claim_rule_alone_is_checked() {
    // No other provider setting: the rule alone must still be evaluated.
    let v = builder()
        .issuer("https://issuer.test")
        .audience("api")
        .claim_rule(ClaimRule::equals("repository", "octo-org/app"))
        .build()
        .unwrap();
    let ours = token().claim("repository", json!("octo-org/app"));
    assert!(check(&v, &ours).is_ok());
    let theirs = token().claim("repository", json!("octo-org/fork"));
    assert!(matches!(
        check(&v, &theirs).unwrap_err(),
        ErrorKind::ClaimRuleFailed(_)
    ));
}
