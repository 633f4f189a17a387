//! Minting compact JWS access tokens, well-formed or deliberately odd.

use serde_json::{Map, Value};

use crate::{TestKey, b64url, random_hex, unix_now};

/// Builds and signs a compact JWS access token with a [`TestKey`].
///
/// The defaults make an RFC 9068 access token: header `{"alg": <key alg>, "typ": "at+jwt",
/// "kid": <key kid>}` and claims `iss` `https://issuer.test`, `sub` `user-1`, `aud` `api`,
/// `iat` now, `exp` now + 300, a random `jti`, `scope` `read write` and `client_id` `client-1`.
/// Every member can be replaced or removed, with any JSON type, to build the odd tokens that
/// rejection tests need. The signature is always made with the key's real algorithm, whatever
/// the header says.
///
/// ```
/// use serde_json::json;
/// use portcullis_testkit::{tamper, Algorithm, TestKey, TokenBuilder};
///
/// let key = TestKey::generate(Algorithm::HS256);
/// let token = TokenBuilder::new(&key)
///     .now(1_000)
///     .expires_in(60)
///     .claim("aud", json!(["api", "other"]))
///     .remove_header("typ")
///     .sign();
/// let (header, payload, _) = tamper::parts(&token);
/// assert!(!header.contains("typ"));
/// let claims: serde_json::Value = serde_json::from_str(&payload).unwrap();
/// assert_eq!(claims["exp"], 1_060);
/// assert_eq!(claims["aud"][1], "other");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder {
    key: TestKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    now: Option<i64>,
    lifetime: i64,
    /// `iat` is filled from `now` at signing unless set or removed explicitly.
    auto_iat: bool,
    /// `exp` is filled from `now + lifetime` at signing unless set or removed explicitly.
    auto_exp: bool,
}

/// The default token lifetime, in seconds.
const DEFAULT_LIFETIME: i64 = 300;

impl TokenBuilder {
    /// A builder for a token signed by `key`, with the defaults described on [`TokenBuilder`].
    pub fn new(key: &TestKey) -> TokenBuilder {
        let mut header = Map::new();
        header.insert("alg".into(), Value::from(key.alg().as_str()));
        header.insert("typ".into(), Value::from("at+jwt"));
        header.insert("kid".into(), Value::from(key.kid()));
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::from("https://issuer.test"));
        claims.insert("sub".into(), Value::from("user-1"));
        claims.insert("aud".into(), Value::from("api"));
        claims.insert("jti".into(), Value::from(random_hex(16)));
        claims.insert("scope".into(), Value::from("read write"));
        claims.insert("client_id".into(), Value::from("client-1"));
        TokenBuilder {
            key: key.clone(),
            header,
            claims,
            now: None,
            lifetime: DEFAULT_LIFETIME,
            auto_iat: true,
            auto_exp: true,
        }
    }

    /// The reference time (Unix seconds) for the default `iat` and `exp`; by default the
    /// system clock at signing time.
    pub fn now(mut self, unix_secs: i64) -> Self {
        self.now = Some(unix_secs);
        self
    }

    /// Sets `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", Value::from(iss))
    }

    /// Sets `aud` to one string. For an array, use [`TokenBuilder::claim`].
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", Value::from(aud))
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", Value::from(sub))
    }

    /// Sets `scope` (space-separated).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", Value::from(scope))
    }

    /// The lifetime: `exp` = now + `secs`. Negative means already expired. This also turns an
    /// `exp` previously set or removed by hand back into the computed one.
    ///
    /// A validator allows clock skew (the leeway, 60 s by default): a token expired by less
    /// than that is still accepted. To be refused as expired, go past it
    /// (`expires_in(-120)` with the default leeway), or set the validator's leeway lower.
    pub fn expires_in(mut self, secs: i64) -> Self {
        self.lifetime = secs;
        self.auto_exp = true;
        self
    }

    /// Binds the token to a client certificate (RFC 8705 section 3): adds
    /// `"cnf": {"x5t#S256": <base64url of the SHA-256 of der>}`, beside any other
    /// confirmation member already in `cnf`. `der` is the certificate's DER, as the client
    /// presents it in the TLS handshake.
    ///
    /// ```
    /// use portcullis_testkit::{Algorithm, TestKey, TokenBuilder, tamper};
    ///
    /// let key = TestKey::generate(Algorithm::ES256);
    /// let token = TokenBuilder::new(&key).certificate_bound(b"certificate DER").sign();
    /// let (_, payload, _) = tamper::parts(&token);
    /// let claims: serde_json::Value = serde_json::from_str(&payload).unwrap();
    /// assert_eq!(claims["cnf"]["x5t#S256"].as_str().unwrap().len(), 43);
    /// ```
    pub fn certificate_bound(mut self, der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let thumbprint = Value::from(b64url(digest.as_ref()));
        match self.claims.get_mut("cnf") {
            Some(Value::Object(cnf)) => {
                cnf.insert("x5t#S256".into(), thumbprint);
            }
            _ => {
                let mut cnf = Map::new();
                cnf.insert("x5t#S256".into(), thumbprint);
                self.claims.insert("cnf".into(), Value::Object(cnf));
            }
        }
        self
    }

    /// Sets or replaces any claim, with any JSON value (`exp` as a string, `aud` as a number...).
    /// Setting `iat` or `exp` here overrides the computed value.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.note_explicit(name);
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim, including the computed `iat` and `exp`.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.note_explicit(name);
        self.claims.remove(name);
        self
    }

    fn note_explicit(&mut self, name: &str) {
        match name {
            "iat" => self.auto_iat = false,
            "exp" => self.auto_exp = false,
            _ => {}
        }
    }

    /// Sets or replaces any header member (`alg`, `kid`, `crit`, `jku`, `typ`...). Overriding
    /// `alg` changes only what the header claims: the signature still uses the key's algorithm.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// Removes a header member.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// The key that will sign.
    #[must_use]
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// The header as it will be signed.
    #[must_use]
    pub fn header_json(&self) -> Value {
        Value::Object(self.header.clone())
    }

    /// The claims as they will be signed, with `iat`/`exp` computed from the reference time
    /// (the system clock now if [`TokenBuilder::now`] was not called).
    #[must_use]
    pub fn claims_json(&self) -> Value {
        let now = self.now.unwrap_or_else(unix_now);
        let mut claims = self.claims.clone();
        if self.auto_iat {
            claims.insert("iat".into(), Value::from(now));
        }
        if self.auto_exp {
            claims.insert("exp".into(), Value::from(now.saturating_add(self.lifetime)));
        }
        Value::Object(claims)
    }

    /// Signs and returns the compact JWS `header.payload.signature`.
    #[must_use]
    pub fn sign(&self) -> String {
        let header = self.header_json().to_string();
        let payload = self.claims_json().to_string();
        TokenBuilder::sign_raw(&self.key, &header, &payload)
    }

    /// Signs exactly these header and payload bytes (which need not be valid JSON: duplicate
    /// members, odd whitespace, anything) with `key`, and returns the compact JWS.
    #[must_use]
    pub fn sign_raw(key: &TestKey, header_json: &str, payload_json: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            b64url(header_json.as_bytes()),
            b64url(payload_json.as_bytes())
        );
        let signature = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, b64url_decode, tamper};
    use serde_json::json;

    fn decoded(token: &str) -> (Value, Value) {
        let (h, p, _) = tamper::parts(token);
        (
            serde_json::from_str(&h).unwrap(),
            serde_json::from_str(&p).unwrap(),
        )
    }

    #[test]
    fn defaults_make_an_rfc_9068_access_token() {
        let key = TestKey::hmac(Algorithm::HS256, b"k").with_kid("h1");
        let token = TokenBuilder::new(&key).now(1_000).sign();
        let (header, claims) = decoded(&token);
        assert_eq!(
            header,
            json!({"alg": "HS256", "typ": "at+jwt", "kid": "h1"})
        );
        assert_eq!(claims["iss"], "https://issuer.test");
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["exp"], 1_300);
        assert_eq!(claims["scope"], "read write");
        assert_eq!(claims["client_id"], "client-1");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn the_signature_covers_the_signing_input_with_the_real_key() {
        let key = TestKey::hmac(Algorithm::HS256, b"k");
        let token = TokenBuilder::new(&key).header("alg", json!("none")).sign();
        let (input, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(b64url_decode(sig).unwrap(), key.sign(input.as_bytes()));
    }

    #[test]
    fn expiry_follows_now_and_lifetime_unless_set_by_hand() {
        let key = TestKey::hmac(Algorithm::HS256, b"k");
        let expired = TokenBuilder::new(&key).now(500).expires_in(-10).sign();
        assert_eq!(decoded(&expired).1["exp"], 490);

        let odd = TokenBuilder::new(&key)
            .claim("exp", json!("tomorrow"))
            .remove_claim("iat")
            .sign();
        let claims = decoded(&odd).1;
        assert_eq!(claims["exp"], "tomorrow");
        assert!(claims.get("iat").is_none());

        let without_exp = TokenBuilder::new(&key).remove_claim("exp").sign();
        assert!(decoded(&without_exp).1.get("exp").is_none());
    }

    #[test]
    fn a_certificate_bound_token_names_the_sha256_of_the_der() {
        let key = TestKey::hmac(Algorithm::HS256, b"k");
        // SHA-256("abc"), FIPS 180-2 appendix B.1, in base64url.
        let token = TokenBuilder::new(&key).certificate_bound(b"abc").sign();
        assert_eq!(
            decoded(&token).1["cnf"],
            json!({"x5t#S256": "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"})
        );
        // Beside a DPoP binding already there; a `cnf` that is no object is replaced.
        let both = TokenBuilder::new(&key)
            .claim("cnf", json!({"jkt": "j"}))
            .certificate_bound(b"abc")
            .sign();
        let cnf = &decoded(&both).1["cnf"];
        assert_eq!(
            (cnf["jkt"].as_str(), cnf.as_object().unwrap().len()),
            (Some("j"), 2)
        );
        let replaced = TokenBuilder::new(&key)
            .claim("cnf", json!("odd"))
            .certificate_bound(b"abc")
            .sign();
        assert!(decoded(&replaced).1["cnf"]["x5t#S256"].is_string());
    }

    #[test]
    fn sign_raw_keeps_the_exact_bytes() {
        let key = TestKey::hmac(Algorithm::HS256, b"k");
        let payload = r#"{"sub":"a","sub":"b"}"#;
        let token = TokenBuilder::sign_raw(&key, r#"{"alg":"HS256"}"#, payload);
        let (_, p, _) = tamper::parts(&token);
        assert_eq!(p, payload);
    }
}
