// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Multi-tenant issuers: one key source discovered from a document that names the issuer
//! template, and the router by issuer choosing a template's entry for an allowed tenant only,
//! before anything is fetched.

use portcullis_core::{ErrorKind, IssuerTemplate, Presentation, Validator, Verifier};
use portcullis_jwks::{Issuers, JwtVerifier, RemoteJwks, SourceErrorKind};
use portcullis_testkit::providers::{
    ENTRA_API_CLIENT_ID, ENTRA_OTHER_TENANT, ENTRA_TENANT, EntraVersion, Provider, Replica,
};

fn template(entra: &Replica) -> IssuerTemplate {
    IssuerTemplate::parse(&entra.issuer())
        .unwrap()
        .tenants([ENTRA_TENANT])
}

async fn router(entra: &Replica) -> Issuers {
    let keys = RemoteJwks::discover(entra.discovery_url())
        .discovered_issuer(entra.issuer())
        .build()
        .await
        .unwrap();
    let rules = Validator::builder()
        .issuer_template(template(entra))
        .audience(ENTRA_API_CLIENT_ID)
        .build()
        .unwrap();
    Issuers::builder()
        .issuer_template(template(entra), JwtVerifier::new(keys, rules))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_document_naming_the_template_is_accepted_only_when_asked_for() {
    let entra = Replica::start(Provider::Entra).await;
    let refused = RemoteJwks::discover(entra.discovery_url())
        .build()
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), &SourceErrorKind::IssuerMismatch);
    assert_eq!(entra.server().jwks_fetches(), 0);
    let other = RemoteJwks::discover(entra.discovery_url())
        .discovered_issuer("http://127.0.0.1:1/{tenantid}/v2.0")
        .build()
        .await
        .unwrap_err();
    assert_eq!(other.kind(), &SourceErrorKind::IssuerMismatch);
}

#[tokio::test]
async fn allowed_tenants_share_one_key_source_and_others_cost_nothing() {
    let entra = Replica::start(Provider::Entra).await;
    let issuers = router(&entra).await;
    assert_eq!(entra.server().jwks_fetches(), 1);
    let verify = |token: String| {
        let issuers = issuers.clone();
        async move { issuers.verify(&Presentation::bearer(&token)).await }
    };
    let claims = verify(entra.access_token().sign()).await.unwrap();
    assert_eq!(claims.tenant_id(), Some(ENTRA_TENANT));

    // Unknown kids would refetch: these are refused before the key is even looked up.
    let stranger = entra
        .entra_token(EntraVersion::V2, ENTRA_OTHER_TENANT)
        .header("kid", serde_json::json!("unknown-kid"));
    assert_eq!(
        verify(stranger.sign()).await.unwrap_err().kind(),
        &ErrorKind::TenantNotAllowed
    );
    let elsewhere = entra
        .access_token()
        .issuer(&format!("http://127.0.0.1:1/{ENTRA_TENANT}/v2.0"))
        .header("kid", serde_json::json!("unknown-kid"));
    assert_eq!(
        verify(elsewhere.sign()).await.unwrap_err().kind(),
        &ErrorKind::WrongIssuer
    );
    let shape = entra
        .access_token()
        .issuer(&entra.issuer().replace("{tenantid}", "a/b"));
    assert_eq!(
        verify(shape.sign()).await.unwrap_err().kind(),
        &ErrorKind::WrongIssuer
    );
    assert_eq!(entra.server().jwks_fetches(), 1);
    assert_eq!(entra.server().discovery_fetches(), 1);
}

#[test]
fn a_template_without_tenants_is_refused_by_the_router_too() {
    let open = IssuerTemplate::parse("https://login.microsoftonline.com/{tenantid}/v2.0").unwrap();
    let rules = Validator::builder()
        .issuer_template(open.clone().danger_accept_any_tenant())
        .audience("api")
        .build()
        .unwrap();
    let keys = portcullis_jwks::StaticKeys::new(portcullis_core::KeySet::new(Vec::new()));
    let refused = Issuers::builder()
        .issuer_template(open, JwtVerifier::new(keys, rules))
        .build()
        .unwrap_err();
    assert!(refused.to_string().contains("tenants"), "{refused}");
}
