// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `portcullis revoke` against a real Redis: the entry is written where the replicas look,
//! expiring with the tokens it covers, and announced on the channel; the URL's password is
//! never printed.

mod common;

use std::time::Duration;

use common::run_with;
use portcullis_core::Claims;
use portcullis_core::revocation::{RevocationCheck, RevocationKey, RevocationList, Standing};
use portcullis_redis::{RedisRevocations, RedisStore};
use portcullis_testkit::TestKey;
use portcullis_testkit::redis::RedisServer;

const ISS: &str = "https://issuer.test";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn standing(list: &RedisRevocations, json: &str) -> Standing {
    let claims = Claims::from_trusted_json(json).unwrap();
    match list.check(&claims) {
        RevocationCheck::Ready(r) => r.unwrap(),
        RevocationCheck::Pending(f) => f.await.unwrap(),
    }
}

#[tokio::test]
async fn revoked_entries_reach_the_replicas_and_expire_with_their_tokens() {
    let Some(redis) = RedisServer::builder()
        .password("hunter2")
        .start_or_skip("revoked_entries_reach_the_replicas_and_expire_with_their_tokens")
    else {
        return;
    };
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", redis.port());
    let env = [("PORTCULLIS_REDIS_URL", url.as_str())];
    let store = RedisStore::builder(&url)
        .key_prefix("orders-api:")
        .connect()
        .await
        .unwrap();
    // A replica that has not looked yet, and one already subscribed.
    let replica = RedisRevocations::builder(store)
        .fresh_for(Duration::ZERO)
        .start();

    let exp = now() + 600;
    let expires = exp.to_string();
    let run = run_with(
        &[
            "revoke",
            "--key-prefix",
            "orders-api:",
            "jti",
            "--issuer",
            ISS,
            "--jti",
            "j-1",
            "--expires-at",
            &expires,
        ],
        None,
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("revoked: token jti=\"j-1\""),
        "{run:?}"
    );
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"));
    let key = replica.redis_key(&RevocationKey::token(ISS, "j-1"));
    assert!(run.stdout.contains(&key), "{run:?}");
    assert_eq!(
        redis.command(&["PEXPIRETIME", &key]),
        format!(":{}", exp * 1000)
    );
    assert_eq!(
        standing(&replica, &format!(r#"{{"iss":"{ISS}","jti":"j-1"}}"#)).await,
        Standing::Revoked
    );

    // A whole token, read without verifying it, from standard input.
    let signer = TestKey::generate(portcullis_testkit::Algorithm::ES256);
    let token = portcullis_testkit::TokenBuilder::new(&signer)
        .issuer(ISS)
        .claim("jti", serde_json::json!("j-2"))
        .sign();
    let run = run_with(
        &["revoke", "--key-prefix", "orders-api:", "token", "-"],
        Some(&token),
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        standing(&replica, &format!(r#"{{"iss":"{ISS}","jti":"j-2"}}"#)).await,
        Standing::Revoked
    );

    // A subject: older tokens refused, the entry kept for the longest lifetime.
    let instant = now() - 10;
    let before = instant.to_string();
    let run = run_with(
        &[
            "revoke",
            "--key-prefix",
            "orders-api:",
            "subject",
            "--issuer",
            ISS,
            "--subject",
            "alice",
            "--before",
            &before,
            "--max-token-lifetime",
            "3600",
        ],
        None,
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let old = format!(r#"{{"iss":"{ISS}","sub":"alice","iat":{}}}"#, now() - 20);
    let new = format!(r#"{{"iss":"{ISS}","sub":"alice","iat":{}}}"#, now());
    assert_eq!(standing(&replica, &old).await, Standing::Revoked);
    assert_eq!(standing(&replica, &new).await, Standing::NotRevoked);
    let key = replica.redis_key(&RevocationKey::subject(ISS, "alice"));
    assert_eq!(
        redis.command(&["PEXPIRETIME", &key]),
        format!(":{}", (instant + 3600) * 1000)
    );
}

#[tokio::test]
async fn what_cannot_be_revoked_is_a_clear_error_without_the_password() {
    let past = (now() - 5).to_string();
    let run = run_with(
        &[
            "revoke",
            "jti",
            "--issuer",
            ISS,
            "--jti",
            "j",
            "--expires-at",
            &past,
        ],
        None,
        &[("PORTCULLIS_REDIS_URL", "redis://127.0.0.1:1")],
    )
    .await;
    run.assert_error("nothing to revoke");
    let future = (now() + 600).to_string();
    let args = [
        "revoke",
        "jti",
        "--issuer",
        ISS,
        "--jti",
        "j",
        "--expires-at",
        &future,
    ];
    let run = run_with(&args, None, &[]).await;
    run.assert_error("no Redis URL: set PORTCULLIS_REDIS_URL");
    let port = common::closed_port();
    let url = format!("redis://app:hunter2@127.0.0.1:{port}");
    let run = run_with(&args, None, &[("PORTCULLIS_REDIS_URL", &url)]).await;
    run.assert_error("cannot use Redis");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
    assert!(run.stderr.contains("app:***@"), "{run:?}");
}
