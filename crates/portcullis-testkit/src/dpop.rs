//! A DPoP client (RFC 9449): a key pair of its own, the proofs it signs for each request
//! (well-formed or deliberately wrong), and its key's thumbprint to bind tokens to.
//!
//! ```
//! use portcullis_testkit::{Algorithm, DpopClient, TestKey, TokenBuilder};
//!
//! let client = DpopClient::new(Algorithm::ES256);
//! let issuer_key = TestKey::generate(Algorithm::RS256);
//! let token = client.bind(TokenBuilder::new(&issuer_key)).sign();
//! let proof = client
//!     .proof("GET", "https://api.test/orders")
//!     .token(&token)
//!     .sign();
//! assert_eq!(proof.split('.').count(), 3);
//! ```

use aws_lc_rs::digest;
use serde_json::{Map, Value, json};

use crate::{Algorithm, TestKey, TokenBuilder, b64url, random_hex, unix_now};

/// A DPoP client: a key pair that signs proofs.
#[derive(Debug, Clone)]
pub struct DpopClient {
    key: TestKey,
}

impl DpopClient {
    /// A client with a fresh key for `alg` (any asymmetric algorithm; an HMAC key makes
    /// proofs a resource server must refuse).
    #[must_use]
    pub fn new(alg: Algorithm) -> Self {
        DpopClient {
            key: TestKey::generate(alg),
        }
    }

    /// A client with this key.
    #[must_use]
    pub fn with_key(key: TestKey) -> Self {
        DpopClient { key }
    }

    /// The client's key.
    #[must_use]
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// The public JWK the proofs carry in their header: `kty` and the public members only.
    #[must_use]
    pub fn jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(members) = jwk.as_object_mut() {
            members.remove("kid");
            members.remove("use");
            members.remove("alg");
        }
        jwk
    }

    /// The RFC 7638 SHA-256 thumbprint of the client's public key, base64url: the `jkt` a
    /// token bound to this client carries in `cnf`.
    #[must_use]
    pub fn jkt(&self) -> String {
        let jwk: portcullis_core::Jwk =
            serde_json::from_value(self.jwk()).expect("a public JWK reads back");
        jwk.thumbprint_sha256()
            .expect("a public key has a thumbprint")
    }

    /// `token` bound to this client's key: `cnf.jkt` (RFC 9449 section 6.1).
    pub fn bind(&self, token: TokenBuilder) -> TokenBuilder {
        token.claim("cnf", json!({ "jkt": self.jkt() }))
    }

    /// A proof for a request with `method` to `url` (the `htu`, without query), signed now,
    /// with a fresh `jti`. Add the access token with [`ProofBuilder::token`].
    pub fn proof(&self, method: &str, url: &str) -> ProofBuilder {
        let mut header = Map::new();
        header.insert("typ".into(), Value::from("dpop+jwt"));
        header.insert("alg".into(), Value::from(self.key.alg().as_str()));
        header.insert("jwk".into(), self.jwk());
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::from(random_hex(16)));
        claims.insert("htm".into(), Value::from(method));
        claims.insert("htu".into(), Value::from(url));
        claims.insert("iat".into(), Value::from(unix_now()));
        ProofBuilder {
            key: self.key.clone(),
            header,
            claims,
        }
    }
}

/// base64url(SHA-256(`token`)): the `ath` of a proof sent with `token`.
#[must_use]
pub fn token_hash(token: &str) -> String {
    b64url(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// One DPoP proof being built: every member can be replaced or removed.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProofBuilder {
    key: TestKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofBuilder {
    /// `ath`, the hash of the access token sent with the proof.
    pub fn token(self, token: &str) -> Self {
        self.claim("ath", Value::from(token_hash(token)))
    }

    /// `iat`, seconds since the epoch.
    pub fn issued_at(self, unix_secs: i64) -> Self {
        self.claim("iat", Value::from(unix_secs))
    }

    /// `jti`.
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", Value::from(jti))
    }

    /// `nonce`, the server-provided nonce.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", Value::from(nonce))
    }

    /// Sets a claim to any JSON value.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets a header member to any JSON value.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// Removes a header member.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Signs with another key than the one in the header (a proof whose signature cannot
    /// verify).
    pub fn signed_by(mut self, key: &TestKey) -> Self {
        self.key = key.clone();
        self
    }

    /// The compact JWS.
    #[must_use]
    pub fn sign(&self) -> String {
        TokenBuilder::sign_raw(
            &self.key,
            &Value::Object(self.header.clone()).to_string(),
            &Value::Object(self.claims.clone()).to_string(),
        )
    }
}
