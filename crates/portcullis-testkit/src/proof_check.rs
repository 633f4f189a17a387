//! The token endpoint's side of DPoP (RFC 9449 section 5): the checks of the proof a client
//! sends with its token request, and the thumbprint of the key the token is then bound to.
//!
//! The resource server's checks are portcullis-core's ([`portcullis_core::dpop`]); these are
//! the authorization server's, written again with core's public pieces ([`Jwk`],
//! [`VerifyingKey`]) so that a test of the one never leans on the other's internals.

use std::collections::HashMap;

use portcullis_core::{Algorithm, AlgorithmSet, Jwk, VerifyingKey};
use serde_json::{Map, Value};

use crate::b64url_decode;

/// How old a proof's `iat` may be, in seconds, at the token endpoint.
pub(crate) const MAX_AGE: i64 = 60;

/// How far in the future a proof's `iat` may be, in seconds (client clock skew).
pub(crate) const MAX_SKEW: i64 = 10;

/// The members of a JWK that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof that passed every check: the RFC 7638 thumbprint of its key, and what the replay
/// check needs.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) iat: i64,
}

/// Checks one DPoP proof for a request with `method` to `url` (RFC 9449 section 4.3, the
/// checks without state): three segments, `typ` `dpop+jwt`, an asymmetric `alg`, a public
/// `jwk` that verifies the signature, a `jti`, `htm` = `method`, `htu` = `url` (query and
/// fragment ignored, compared as written), `iat` within [`MAX_AGE`] before and [`MAX_SKEW`]
/// after `now`. The error is why, for the `error_description`.
pub(crate) fn check(proof: &str, method: &str, url: &str, now: i64) -> Result<Accepted, String> {
    let mut segments = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err("not a compact JWS of three segments".into());
    };
    let header = json_object(header_b64).ok_or("the header is not a base64url JSON object")?;
    let claims = json_object(claims_b64).ok_or("the claims are not a base64url JSON object")?;
    let signature = b64url_decode(signature_b64).ok_or("the signature is not base64url")?;

    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("typ is not dpop+jwt".into());
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_jose)
        .filter(|alg| !alg.is_symmetric())
        .ok_or("alg is not an asymmetric JWS algorithm")?;
    let jwk_json = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or("the header has no jwk object")?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk_json.contains_key(*m)) {
        return Err("the jwk holds a private or symmetric key".into());
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk_json.clone()))
        .map_err(|_| "the jwk is not a JWK")?;
    let key = VerifyingKey::from_jwk(&jwk, AlgorithmSet::ASYMMETRIC)
        .map_err(|e| format!("the jwk is not a usable public key: {e}"))?;
    let signing_input = proof
        .rsplit_once('.')
        .map(|(input, _)| input)
        .ok_or("not a compact JWS")?;
    key.verify(alg, signing_input.as_bytes(), &signature)
        .map_err(|_| "the signature does not verify with the jwk")?;

    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or("no jti")?;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err(format!("htm is not {method}"));
    }
    let htu = claims.get("htu").and_then(Value::as_str).ok_or("no htu")?;
    if without_query(htu) != without_query(url) {
        return Err(format!("htu is not {url}"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or("no numeric iat")?;
    #[allow(clippy::cast_precision_loss)] // Seconds since the epoch fit an f64 exactly.
    let (earliest, latest) = ((now - MAX_AGE) as f64, (now + MAX_SKEW) as f64);
    if !(earliest..=latest).contains(&iat) {
        return Err("iat is not recent".into());
    }
    let jkt = jwk
        .thumbprint_sha256()
        .ok_or("the jwk has no RFC 7638 thumbprint")?;
    #[allow(clippy::cast_possible_truncation)] // Within a minute of `now`: an i64 second.
    let iat = iat.floor() as i64;
    Ok(Accepted {
        jkt,
        jti: jti.to_owned(),
        iat,
    })
}

fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = b64url_decode(segment)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The proofs seen within the window, by (thumbprint, `jti`), to refuse a replayed one
/// (RFC 9449 section 11.1). Entries older than the window are dropped as new ones come.
#[derive(Debug, Default)]
pub(crate) struct SeenProofs {
    seen: HashMap<(String, String), i64>,
}

impl SeenProofs {
    /// Records `proof`; `false` if it was seen before (a replay).
    pub(crate) fn first_use(&mut self, proof: &Accepted, now: i64) -> bool {
        self.seen.retain(|_, iat| *iat >= now - MAX_AGE - MAX_SKEW);
        self.seen
            .insert((proof.jkt.clone(), proof.jti.clone()), proof.iat)
            .is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DpopClient, TestKey};
    use serde_json::json;

    const URL: &str = "http://127.0.0.1:1/token";

    fn client() -> DpopClient {
        DpopClient::new(Algorithm::ES256)
    }

    #[test]
    fn a_good_proof_gives_its_key_thumbprint_for_every_asymmetric_family() {
        for alg in [Algorithm::ES256, Algorithm::PS256, Algorithm::EdDSA] {
            let client = DpopClient::new(alg);
            let now = crate::unix_now();
            let proof = client.proof("POST", URL).sign();
            let accepted = check(&proof, "POST", URL, now).unwrap();
            assert_eq!(accepted.jkt, client.jkt(), "{alg}");
        }
    }

    #[test]
    fn each_broken_proof_is_refused_for_its_own_reason() {
        let c = client();
        let now = crate::unix_now();
        let hmac = DpopClient::new(Algorithm::HS256);
        let mut private = c.jwk();
        private["d"] = json!("AAAA");
        let cases = [
            ("three segments", "a.b".to_owned()),
            (
                "typ",
                c.proof("POST", URL).header("typ", json!("jwt")).sign(),
            ),
            (
                "asymmetric",
                c.proof("POST", URL).header("alg", json!("none")).sign(),
            ),
            ("asymmetric", hmac.proof("POST", URL).sign()),
            ("no jwk", c.proof("POST", URL).remove_header("jwk").sign()),
            (
                "private",
                c.proof("POST", URL).header("jwk", private).sign(),
            ),
            (
                "signature",
                c.proof("POST", URL)
                    .signed_by(&TestKey::generate(Algorithm::ES256))
                    .sign(),
            ),
            ("no jti", c.proof("POST", URL).remove_claim("jti").sign()),
            ("htm", c.proof("GET", URL).sign()),
            ("htu", c.proof("POST", "http://127.0.0.1:1/other").sign()),
            (
                "iat",
                c.proof("POST", URL).issued_at(now - MAX_AGE - 1).sign(),
            ),
            (
                "iat",
                c.proof("POST", URL).issued_at(now + MAX_SKEW + 5).sign(),
            ),
            (
                "numeric iat",
                c.proof("POST", URL).remove_claim("iat").sign(),
            ),
        ];
        for (reason, proof) in cases {
            let refused = check(&proof, "POST", URL, now).unwrap_err();
            assert!(refused.contains(reason), "{reason}: {refused}");
        }
    }

    #[test]
    fn the_query_of_htu_is_ignored() {
        let c = client();
        let proof = c.proof("POST", &format!("{URL}?x=1")).sign();
        assert!(check(&proof, "POST", URL, crate::unix_now()).is_ok());
    }

    #[test]
    fn a_proof_is_used_once_and_old_ones_are_forgotten() {
        let c = client();
        let now = crate::unix_now();
        let accepted = check(&c.proof("POST", URL).sign(), "POST", URL, now).unwrap();
        let mut seen = SeenProofs::default();
        assert!(seen.first_use(&accepted, now));
        assert!(!seen.first_use(&accepted, now));
        let later = now + MAX_AGE + MAX_SKEW + 1;
        let fresh = check(
            &c.proof("POST", URL).issued_at(later).sign(),
            "POST",
            URL,
            later,
        )
        .unwrap();
        assert!(seen.first_use(&fresh, later));
        assert_eq!(seen.seen.len(), 1, "the old proof is forgotten");
    }
}
