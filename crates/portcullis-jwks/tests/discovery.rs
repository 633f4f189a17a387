//! Discovery and several issuers, against the testkit issuer over loopback.
// test code
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{token_with_kid, validate, validator, verify};
use portcullis_core::{Algorithm, AlgorithmSet, ConfigErrorKind, ErrorKind, Validator};
use portcullis_jwks::{Issuers, JwtVerifier, ManualTimer, RemoteJwks, SourceErrorKind, StaticKeys};
use portcullis_testkit::{TestIssuer, TestKey, TokenBuilder};

#[tokio::test]
async fn discovery_finds_the_jwks_of_the_issuer() {
    for path in ["", "/tenant-a"] {
        let issuer = TestIssuer::builder().path(path).start().await;
        let jwks = RemoteJwks::discover(issuer.issuer()).build().await.unwrap();
        assert_eq!(issuer.discovery_fetches(), 1);
        assert_eq!(issuer.jwks_fetches(), 1);
        assert_eq!(jwks.jwks_url(), Some(issuer.jwks_url()));
        assert_eq!(jwks.issuer(), Some(&*issuer.issuer()));
        validate(&jwks, &validator(&issuer), &issuer.token().sign())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn discovery_with_a_mismatching_issuer_is_refused_before_any_jwks_fetch() {
    let issuer = TestIssuer::start().await;
    for wrong in [
        format!("{}/", issuer.issuer()), // a trailing slash is another issuer
        "https://evil.example".to_owned(),
    ] {
        issuer.set_discovery_issuer(Some(wrong));
        let err = RemoteJwks::discover(issuer.issuer())
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &SourceErrorKind::IssuerMismatch);
    }
    assert_eq!(issuer.discovery_fetches(), 2);
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_lazy_discovering_source_retries_discovery_until_it_succeeds() {
    let issuer = TestIssuer::start().await;
    issuer.set_discovery_issuer(Some("https://evil.example".into()));
    let timer = ManualTimer::new();
    let jwks = RemoteJwks::discover(issuer.issuer())
        .timer(timer.clone())
        .lazy()
        .build()
        .await
        .unwrap();
    common::wait_stats(&jwks, |s| s.failures >= 1).await;
    assert_eq!(issuer.jwks_fetches(), 0);
    issuer.set_discovery_issuer(None);
    timer.advance(common::secs(2));
    common::wait_stats(&jwks, |s| s.updated >= 1).await;
    assert_eq!(issuer.jwks_fetches(), 1);
    validate(&jwks, &validator(&issuer), &issuer.token().sign())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_from_an_untrusted_issuer_costs_no_fetch() {
    let a = TestIssuer::builder().path("/a").start().await;
    let b = TestIssuer::builder().path("/b").start().await;
    let timer = ManualTimer::new();
    let a_keys = RemoteJwks::discover(a.issuer())
        .timer(timer.clone())
        .build()
        .await
        .unwrap();
    let b_keys = RemoteJwks::discover(b.issuer())
        .timer(timer.clone())
        .build()
        .await
        .unwrap();
    let issuers = Issuers::builder()
        .issuer(a.issuer(), JwtVerifier::new(a_keys, validator(&a)))
        .issuer(b.issuer(), JwtVerifier::new(b_keys, validator(&b)))
        .build()
        .unwrap();
    let before = |i: &TestIssuer| (i.discovery_fetches(), i.jwks_fetches());
    let (a0, b0) = (before(&a), before(&b));

    verify(&issuers, &a.token().sign()).await.unwrap();
    verify(&issuers, &b.token().sign()).await.unwrap();

    // Signed by a trusted key, but naming an untrusted issuer; and an unknown kid with it.
    for token in [
        a.token().issuer("https://untrusted.example").sign(),
        token_with_kid("https://untrusted.example", "new-kid"),
        token_with_kid(&format!("{}/", a.issuer()), "new-kid"),
    ] {
        let refused = verify(&issuers, &token).await.unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::WrongIssuer);
    }
    // A token naming A, signed by a key A never published.
    let foreign = TestKey::generate(Algorithm::ES256);
    let crossed = TokenBuilder::new(&foreign).issuer(&a.issuer()).sign();
    let refused = verify(&issuers, &crossed).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::UnknownKey);
    assert_eq!(before(&b), b0, "no request to B for a token naming A");
    assert_eq!(a.discovery_fetches(), a0.0);
    assert_eq!(a.jwks_fetches(), a0.1 + 1, "one unknown-kid refetch at A");

    let no_iss = a.token().remove_claim("iss").sign();
    assert!(matches!(
        verify(&issuers, &no_iss).await.unwrap_err().kind(),
        ErrorKind::MissingClaim(_)
    ));
    assert!(matches!(
        verify(&issuers, "garbage").await.unwrap_err().kind(),
        ErrorKind::Malformed(_)
    ));
}

#[tokio::test]
async fn each_issuer_keeps_its_own_rules() {
    let hs = TestKey::hmac(Algorithm::HS256, &[9u8; 32]).with_kid("hs");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec");
    let hs_validator = Validator::builder()
        .issuer("https://hs.example")
        .audience("internal")
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let ec_validator = Validator::builder()
        .issuer("https://ec.example")
        .audience("api")
        .build()
        .unwrap();
    let issuers = Issuers::builder()
        .issuer(
            "https://hs.example",
            JwtVerifier::new(
                StaticKeys::hmac(Algorithm::HS256, &[9u8; 32]).unwrap(),
                hs_validator,
            ),
        )
        .issuer(
            "https://ec.example",
            JwtVerifier::new(
                StaticKeys::from_der(&ec.public_spki_der(), AlgorithmSet::ASYMMETRIC).unwrap(),
                ec_validator,
            ),
        )
        .build()
        .unwrap();
    let hs_token = TokenBuilder::new(&hs)
        .issuer("https://hs.example")
        .audience("internal")
        .remove_header("kid")
        .sign();
    verify(&issuers, &hs_token).await.unwrap();
    let ec_token = TokenBuilder::new(&ec)
        .issuer("https://ec.example")
        .remove_header("kid")
        .sign();
    verify(&issuers, &ec_token).await.unwrap();
    // The EC issuer's rules refuse HS256, even with a valid HMAC signature.
    let wrong = TokenBuilder::new(&hs)
        .issuer("https://ec.example")
        .remove_header("kid")
        .sign();
    assert_eq!(
        verify(&issuers, &wrong).await.unwrap_err().kind(),
        &ErrorKind::DisallowedAlgorithm(Algorithm::HS256)
    );
    assert!(matches!(
        Issuers::builder().build().unwrap_err().kind(),
        ConfigErrorKind::Missing { .. }
    ));
    let hs = || {
        let rules = Validator::builder()
            .issuer("https://hs.example")
            .audience("internal")
            .algorithms([Algorithm::HS256])
            .build()
            .unwrap();
        JwtVerifier::new(
            StaticKeys::hmac(Algorithm::HS256, &[9u8; 32]).unwrap(),
            rules,
        )
    };
    // The router reads as much of a token as its most generous entry, and vouches for the
    // b64token syntax only when every entry does.
    struct AnyShape;
    impl portcullis_core::Verifier for AnyShape {
        fn verify(&self, _: &portcullis_core::Presentation<'_>) -> portcullis_core::Verdict {
            portcullis_core::Verdict::Ready(Err(ErrorKind::Inactive.into()))
        }
        fn max_token_len(&self) -> usize {
            99_999
        }
    }
    let jws_only = Issuers::builder()
        .issuer("https://hs.example", hs())
        .build()
        .unwrap();
    assert!(portcullis_core::Verifier::accepts_only_b64tokens(&jws_only));
    assert_eq!(
        portcullis_core::Verifier::max_token_len(&jws_only),
        hs().validator().max_token_len()
    );
    let mixed = Issuers::builder()
        .issuer("https://hs.example", hs())
        .issuer("https://any.example", AnyShape)
        .build()
        .unwrap();
    assert!(!portcullis_core::Verifier::accepts_only_b64tokens(&mixed));
    assert_eq!(portcullis_core::Verifier::max_token_len(&mixed), 99_999);
    let twice = Issuers::builder()
        .issuer("https://hs.example", hs())
        .issuer("https://hs.example", hs())
        .build()
        .unwrap_err();
    assert_eq!(
        twice.kind(),
        &ConfigErrorKind::Duplicate {
            setting: "issuers",
            value: "https://hs.example".into()
        }
    );
}

#[tokio::test]
async fn fetch_document_returns_the_jwks_text_under_the_same_rules() {
    let issuer = TestIssuer::start().await;
    let by_issuer = RemoteJwks::discover(issuer.issuer())
        .fetch_document()
        .await
        .unwrap();
    assert_eq!(by_issuer.url, issuer.jwks_url());
    let doc: serde_json::Value = serde_json::from_str(&by_issuer.body).unwrap();
    assert_eq!(doc, issuer.jwks_json());
    let by_url = RemoteJwks::builder(issuer.jwks_url())
        .fetch_document()
        .await
        .unwrap();
    assert_eq!(by_url.body, by_issuer.body);
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 2);

    // The discovery document must still name the issuer, and only 200 is an answer.
    issuer.set_discovery_issuer(Some("https://evil.example".into()));
    let err = RemoteJwks::discover(issuer.issuer())
        .fetch_document()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &SourceErrorKind::IssuerMismatch);
    issuer.set_fault(Some(portcullis_testkit::JwksFault::Status(500)));
    let err = RemoteJwks::builder(issuer.jwks_url())
        .fetch_document()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &SourceErrorKind::Http { status: 500 });
    // A body that is not a JWKS is handed back as it is: showing it is the caller's job.
    issuer.set_fault(Some(portcullis_testkit::JwksFault::Garbage));
    let garbage = RemoteJwks::builder(issuer.jwks_url())
        .fetch_document()
        .await
        .unwrap();
    assert!(garbage.body.starts_with("<html>"));
}
