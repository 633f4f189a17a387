//! Signing keys for every algorithm, and their public halves in JWK, SPKI DER and PEM form.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RsaEncoding,
    RsaKeyPair,
};
use aws_lc_rs::{hmac, rand};
use base64::Engine as _;
use portcullis_core::{Algorithm, Family};
use serde_json::{Value, json};

use crate::{b64url, random_hex};

/// A signing key bound to one algorithm, with a key id.
///
/// Cloning is cheap: the key material sits behind an `Arc`. [`TestKey::with_kid`] gives a handle
/// to the same material under another `kid`.
#[derive(Clone)]
pub struct TestKey {
    kid: Arc<str>,
    alg: Algorithm,
    material: Arc<Material>,
}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private half or the HMAC secret.
        f.debug_struct("TestKey")
            .field("kid", &&*self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// Generates a fresh key for `alg`: RSA 2048 for RS*/PS*, P-256/P-384/P-521 for
    /// ES256/384/512, Ed25519 for EdDSA, and 32/48/64 random bytes for HS256/384/512.
    ///
    /// The key id is a short random hex string; change it with [`TestKey::with_kid`].
    ///
    /// # Panics
    /// If the system random generator or aws-lc-rs key generation fails.
    #[must_use]
    pub fn generate(alg: Algorithm) -> TestKey {
        let material = match alg.family() {
            Family::Rsa => Material::Rsa(generate_rsa(KeySize::Rsa2048)),
            Family::Ec => Material::Ec(
                EcdsaKeyPair::generate(ecdsa_signing(alg)).expect("ECDSA key generation"),
            ),
            Family::Okp => {
                Material::Ed25519(Ed25519KeyPair::generate().expect("Ed25519 key generation"))
            }
            Family::Hmac => {
                let mut secret = vec![0u8; hmac_secret_len(alg)];
                rand::fill(&mut secret).expect("the system random generator works");
                Material::Hmac(secret)
            }
            other => panic!("portcullis-testkit cannot generate keys of family {other:?}"),
        };
        TestKey::from_material(alg, material)
    }

    /// Generates an RSA key of `bits` (2048, 3072, 4096 or 8192) for an RS* or PS* algorithm.
    ///
    /// aws-lc-rs refuses to generate or even load RSA keys under 2048 bits, so 1024 is not
    /// possible here; use [`rsa_1024_public_jwk`] and [`rsa_1024_token`] (a fixed test vector)
    /// to test the refusal of weak keys.
    ///
    /// # Panics
    /// If `alg` is not an RSA algorithm or `bits` is not one of the sizes above.
    #[must_use]
    pub fn rsa_with_bits(alg: Algorithm, bits: usize) -> TestKey {
        assert!(
            alg.family() == Family::Rsa,
            "rsa_with_bits needs an RS* or PS* algorithm, not {alg}"
        );
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => panic!(
                "aws-lc-rs generates RSA keys of 2048, 3072, 4096 or 8192 bits, not {other}; \
                 for a 1024-bit key use portcullis_testkit::rsa_1024_public_jwk()"
            ),
        };
        TestKey::from_material(alg, Material::Rsa(generate_rsa(size)))
    }

    /// An HMAC key for HS256/384/512 with the given secret (any length, even a weak one).
    ///
    /// # Panics
    /// If `alg` is not an HS* algorithm.
    #[must_use]
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> TestKey {
        assert!(
            alg.family() == Family::Hmac,
            "TestKey::hmac needs an HS* algorithm, not {alg}"
        );
        TestKey::from_material(alg, Material::Hmac(secret.to_vec()))
    }

    fn from_material(alg: Algorithm, material: Material) -> TestKey {
        TestKey {
            kid: random_hex(4).into(),
            alg,
            material: Arc::new(material),
        }
    }

    /// The same key material under another key id.
    #[must_use]
    pub fn with_kid(self, kid: impl Into<String>) -> TestKey {
        TestKey {
            kid: kid.into().into(),
            ..self
        }
    }

    /// The same key material bound to another algorithm of the same key type, e.g. an RS256
    /// key used for PS256 (algorithm-confusion tests). The key id stays the same.
    ///
    /// # Panics
    /// If the material cannot sign with `alg`: another family, or another curve for ECDSA.
    #[must_use]
    pub fn with_alg(self, alg: Algorithm) -> TestKey {
        let fits = match &*self.material {
            Material::Rsa(_) => alg.family() == Family::Rsa,
            Material::Hmac(_) => alg.family() == Family::Hmac,
            Material::Ed25519(_) => matches!(alg, Algorithm::EdDSA | Algorithm::Ed25519),
            // The curve is fixed by the algorithm (ES256 = P-256, ...).
            Material::Ec(_) => alg == self.alg,
        };
        assert!(fits, "a {} key cannot sign {alg}", self.alg);
        TestKey { alg, ..self }
    }

    /// The key id (`kid`).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The RSA modulus size in bits, `None` for other key types.
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        match &*self.material {
            Material::Rsa(pair) => Some(pair.public_modulus_len() * 8),
            _ => None,
        }
    }

    /// Signs `message` (the JWS signing input) and returns the raw JWS signature bytes:
    /// PKCS#1 v1.5 or PSS for RSA, the fixed `r || s` (IEEE P1363) form for ECDSA, the 64-byte
    /// Ed25519 signature, or the HMAC tag.
    ///
    /// # Panics
    /// If aws-lc-rs fails to sign, which does not happen with a generated key.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &*self.material {
            Material::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    rsa_encoding(self.alg),
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .expect("RSA signing");
                sig
            }
            Material::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Material::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            Material::Hmac(secret) => {
                let key = hmac::Key::new(hmac_algorithm(self.alg), secret);
                hmac::sign(&key, message).as_ref().to_vec()
            }
        }
    }

    /// The public JWK (RFC 7517): `kty`, `kid`, `alg`, `use: "sig"`, and `n`/`e` (RSA),
    /// `crv`/`x`/`y` (EC), `crv`/`x` (OKP) or, for HMAC keys, `kty: "oct"` with the secret `k`.
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &*self.material {
            Material::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::Ec(pair) => {
                // SEC 1 uncompressed point: 0x04 || X || Y, each coordinate of the curve's size.
                let point = pair.public_key().as_ref();
                let coords = point.get(1..).expect("an uncompressed EC point");
                let (x, y) = coords.split_at(coords.len() / 2);
                json!({
                    "kty": "EC",
                    "crv": ec_curve_name(self.alg),
                    "x": b64url(x),
                    "y": b64url(y),
                })
            }
            Material::Ed25519(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(pair.public_key().as_ref()),
            }),
            Material::Hmac(secret) => json!({ "kty": "oct", "k": b64url(secret) }),
        };
        let members = jwk.as_object_mut().expect("a JSON object");
        members.insert("kid".into(), Value::from(self.kid()));
        members.insert("alg".into(), Value::from(self.alg.as_str()));
        members.insert("use".into(), Value::from("sig"));
        jwk
    }

    /// The public key as a DER `SubjectPublicKeyInfo` (RFC 5280).
    ///
    /// # Panics
    /// For HMAC keys, which have no public half.
    #[must_use]
    pub fn public_spki_der(&self) -> Vec<u8> {
        let der = match &*self.material {
            Material::Rsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Material::Ec(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Material::Ed25519(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Material::Hmac(_) => panic!(
                "TestKey `{}` is an HMAC ({}) key: it has no public key to encode",
                self.kid, self.alg
            ),
        };
        der.expect("encoding a public key as SubjectPublicKeyInfo")
    }

    /// The public key as a `-----BEGIN PUBLIC KEY-----` PEM block (SPKI, 64-character lines).
    ///
    /// # Panics
    /// For HMAC keys, which have no public half.
    #[must_use]
    pub fn public_pem(&self) -> String {
        spki_pem(&self.public_spki_der())
    }

    /// The HMAC secret, `None` for asymmetric keys.
    #[must_use]
    pub fn secret(&self) -> Option<&[u8]> {
        match &*self.material {
            Material::Hmac(secret) => Some(secret),
            _ => None,
        }
    }

    /// The bare signature check of this key's tokens with aws-lc-rs, the key parsed once and
    /// nothing else: the floor that the benches measure portcullis against.
    #[must_use]
    pub fn raw_verifier(&self) -> RawVerifier {
        let Some(public) = public_verification(self.alg) else {
            let hash = match self.alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                Algorithm::HS512 => hmac::HMAC_SHA512,
                other => panic!("no bare signature check for {other}"),
            };
            return RawVerifier::Hmac(hmac::Key::new(hash, self.secret().unwrap_or_default()));
        };
        RawVerifier::Public(
            signature::ParsedPublicKey::new(public, self.public_spki_der())
                .expect("a test key's own public key parses"),
        )
    }
}

/// aws-lc-rs's verification of a public-key algorithm; `None` for HMAC.
fn public_verification(alg: Algorithm) -> Option<&'static dyn signature::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDSA | Algorithm::Ed25519 => &signature::ED25519,
        _ => return None,
    })
}

/// A test key's bare signature check ([`TestKey::raw_verifier`]).
// Made once per bench and never moved on the measured path: the HMAC key stays inline rather
// than behind one more pointer in the floor.
#[allow(clippy::large_enum_variant)]
pub enum RawVerifier {
    /// An asymmetric key, parsed once.
    Public(signature::ParsedPublicKey),
    /// An HMAC key.
    Hmac(hmac::Key),
}

impl fmt::Debug for RawVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RawVerifier::Public(_) => "RawVerifier::Public",
            RawVerifier::Hmac(_) => "RawVerifier::Hmac",
        })
    }
}

impl RawVerifier {
    /// Whether `signature` is this key's over `message`.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            RawVerifier::Public(key) => key.verify_sig(message, signature).is_ok(),
            RawVerifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

fn generate_rsa(size: KeySize) -> RsaKeyPair {
    RsaKeyPair::generate(size).expect("RSA key generation")
}

fn ecdsa_signing(alg: Algorithm) -> &'static EcdsaSigningAlgorithm {
    match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        other => panic!("{other} is not an ECDSA algorithm"),
    }
}

fn ec_curve_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "P-256",
        Algorithm::ES384 => "P-384",
        Algorithm::ES512 => "P-521",
        other => panic!("{other} is not an ECDSA algorithm"),
    }
}

fn rsa_encoding(alg: Algorithm) -> &'static dyn RsaEncoding {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        other => panic!("{other} is not an RSA algorithm"),
    }
}

fn hmac_algorithm(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        other => panic!("{other} is not an HMAC algorithm"),
    }
}

fn hmac_secret_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

fn spki_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// The key id of the fixed 1024-bit RSA test vector.
pub const RSA_1024_KID: &str = "rsa-1024";

const RSA_1024_N: &str = "8YTDEpq7YD-w46YxwyqmOElDBVgMdLA3SsCpGPh6SlQkPdfS6Czl69TEo6gBFVn4z1OGRyg2\
UCd2srQv95PyN8k_TDmujOui7OA65ZqsfOEnjyyN1v2BrMW3EaX54gCKE0gIHhLPYBu92w-NVGiPIWk3MJApO6acFfwJX0x\
YgCc";

const RSA_1024_SPKI: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDxhMMSmrtgP7DjpjHDKqY4SUMFWAx0s\
DdKwKkY-HpKVCQ919LoLOXr1MSjqAEVWfjPU4ZHKDZQJ3aytC_3k_I3yT9MOa6M66Ls4Drlmqx84SePLI3W_YGsxbcRpfniAI\
oTSAgeEs9gG73bD41UaI8haTcwkCk7ppwV_AlfTFiAJwIDAQAB";

const RSA_1024_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6InJzYS0xMDI0In0.eyJ\
pc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoidXNlci0xIiwiYXVkIjoiYXBpIiwiaWF0IjoxNzAwMDAwMDAwLCJle\
HAiOjQxMDI0NDQ4MDAsImp0aSI6InJzYS0xMDI0LWZpeGVkIiwic2NvcGUiOiJyZWFkIHdyaXRlIiwiY2xpZW50X2lkIjoiY2x\
pZW50LTEifQ.QWf8x9-YGou_e1p80qTreHZaTtvdhGlO2mjWBF0G-FsRlrdvy4AEPCYGlRZmzchMYAe8iN4iSsf91yt7g3VvmF\
-9QR9S1Xy_Xcnzahi8aviX0JBTdeP7i2jQTRe_1lBhhFA81DTj_dVY88b_xbP8DpTq_vhdcpUEyqBAH7h60fQ";

/// The public JWK of a fixed 1024-bit RSA key (`kid` [`RSA_1024_KID`], `alg` RS256, `e` 65537),
/// for testing that weak RSA keys are refused. aws-lc-rs cannot generate such keys, so this one
/// was made once with OpenSSL; its private half is not kept.
#[must_use]
pub fn rsa_1024_public_jwk() -> Value {
    json!({
        "kty": "RSA",
        "kid": RSA_1024_KID,
        "alg": "RS256",
        "use": "sig",
        "n": RSA_1024_N,
        "e": "AQAB",
    })
}

/// The same 1024-bit RSA public key as a DER `SubjectPublicKeyInfo`.
#[must_use]
pub fn rsa_1024_public_spki_der() -> Vec<u8> {
    crate::b64url_decode(RSA_1024_SPKI).expect("a valid base64url constant")
}

/// An RS256 access token genuinely signed by the 1024-bit key of [`rsa_1024_public_jwk`], so a
/// refusal can only be due to the key size. Header: `alg` RS256, `typ` at+jwt, `kid` rsa-1024.
/// Claims: `iss` `https://issuer.test`, `sub` user-1, `aud` api, `iat` 1700000000,
/// `exp` 4102444800 (year 2100), `jti`, `scope` "read write", `client_id` client-1.
#[must_use]
pub fn rsa_1024_token() -> &'static str {
    RSA_1024_TOKEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, VerificationAlgorithm};

    fn verification(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
        public_verification(alg).expect("a public-key algorithm")
    }

    #[test]
    fn the_raw_verifier_accepts_the_keys_signatures_and_nothing_else() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS384,
            Algorithm::ES256,
            Algorithm::ES512,
            Algorithm::EdDSA,
            Algorithm::HS256,
            Algorithm::HS512,
        ] {
            let key = TestKey::generate(alg);
            let raw = key.raw_verifier();
            let signature = key.sign(b"message");
            assert!(raw.verify(b"message", &signature), "{alg}");
            assert!(!raw.verify(b"messagE", &signature), "{alg}");
            assert!(
                !TestKey::generate(alg)
                    .raw_verifier()
                    .verify(b"message", &signature),
                "{alg}: another key"
            );
        }
    }

    /// The raw public key bytes that aws-lc-rs's `UnparsedPublicKey` takes, rebuilt from the JWK
    /// alone, so the JWK members are proven right too.
    fn public_bytes_from_jwk(jwk: &Value) -> Vec<u8> {
        let member = |name: &str| b64url_decode(jwk[name].as_str().unwrap()).unwrap();
        match jwk["kty"].as_str().unwrap() {
            "RSA" => {
                let n = member("n");
                let e = member("e");
                let components = signature::RsaPublicKeyComponents {
                    n: &n[..],
                    e: &e[..],
                };
                components.as_der().unwrap().as_ref().to_vec()
            }
            "EC" => [vec![4u8], member("x"), member("y")].concat(),
            "OKP" => member("x"),
            other => panic!("unexpected kty {other}"),
        }
    }

    #[test]
    fn signatures_verify_with_aws_lc_rs_for_every_asymmetric_algorithm() {
        for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()) {
            let key = TestKey::generate(alg);
            let message = b"header.payload";
            let sig = key.sign(message);

            let from_jwk = public_bytes_from_jwk(&key.public_jwk());
            UnparsedPublicKey::new(verification(alg), &from_jwk)
                .verify(message, &sig)
                .unwrap_or_else(|_| panic!("{alg} signature must verify against its JWK"));

            // The SPKI form parses and verifies as well.
            UnparsedPublicKey::new(verification(alg), key.public_spki_der())
                .verify(message, &sig)
                .unwrap_or_else(|_| panic!("{alg} signature must verify against its SPKI"));

            assert!(
                UnparsedPublicKey::new(verification(alg), &from_jwk)
                    .verify(b"header.other", &sig)
                    .is_err(),
                "{alg} must not verify another message"
            );
        }
    }

    #[test]
    fn ecdsa_signatures_have_the_fixed_p1363_length() {
        for (alg, len) in [
            (Algorithm::ES256, 64),
            (Algorithm::ES384, 96),
            (Algorithm::ES512, 132),
        ] {
            assert_eq!(TestKey::generate(alg).sign(b"m").len(), len, "{alg}");
        }
        assert_eq!(TestKey::generate(Algorithm::EdDSA).sign(b"m").len(), 64);
    }

    #[test]
    fn jwks_members_follow_rfc_7518() {
        let ec = TestKey::generate(Algorithm::ES512)
            .with_kid("ec")
            .public_jwk();
        assert_eq!(ec["kty"], "EC");
        assert_eq!(ec["crv"], "P-521");
        assert_eq!(ec["kid"], "ec");
        assert_eq!(ec["alg"], "ES512");
        assert_eq!(ec["use"], "sig");
        assert_eq!(b64url_decode(ec["x"].as_str().unwrap()).unwrap().len(), 66);
        assert_eq!(b64url_decode(ec["y"].as_str().unwrap()).unwrap().len(), 66);

        let rsa = TestKey::generate(Algorithm::PS256).public_jwk();
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        assert_eq!(
            b64url_decode(rsa["n"].as_str().unwrap()).unwrap().len(),
            256
        );

        let okp = TestKey::generate(Algorithm::EdDSA).public_jwk();
        assert_eq!(okp["kty"], "OKP");
        assert_eq!(okp["crv"], "Ed25519");
        assert!(okp.get("d").is_none());
    }

    #[test]
    fn hmac_keys_sign_with_their_secret_and_expose_it_as_oct() {
        let key = TestKey::hmac(Algorithm::HS256, b"secret");
        let tag = key.sign(b"m");
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"secret"), b"m");
        assert_eq!(tag, expected.as_ref());
        assert_eq!(key.secret(), Some(&b"secret"[..]));
        assert_eq!(key.public_jwk()["kty"], "oct");
        assert_eq!(key.public_jwk()["k"], b64url(b"secret"));

        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let key = TestKey::generate(alg);
            assert_eq!(key.secret().unwrap().len(), len);
            assert_eq!(key.sign(b"m").len(), len);
        }
    }

    #[test]
    #[should_panic(expected = "no public key")]
    fn hmac_keys_have_no_spki() {
        let _ = TestKey::generate(Algorithm::HS256).public_spki_der();
    }

    #[test]
    fn kids_default_to_short_random_hex_and_can_be_replaced() {
        let a = TestKey::generate(Algorithm::EdDSA);
        let b = TestKey::generate(Algorithm::EdDSA);
        assert_eq!(a.kid().len(), 8);
        assert!(a.kid().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.kid(), b.kid());
        let renamed = a.clone().with_kid("ed-1");
        assert_eq!(renamed.kid(), "ed-1");
        assert_eq!(renamed.public_jwk()["x"], a.public_jwk()["x"]);
    }

    #[test]
    fn rsa_keys_come_in_the_requested_sizes() {
        assert_eq!(TestKey::generate(Algorithm::RS256).rsa_bits(), Some(2048));
        let key = TestKey::rsa_with_bits(Algorithm::RS384, 3072);
        assert_eq!(key.rsa_bits(), Some(3072));
        let sig = key.sign(b"m");
        UnparsedPublicKey::new(
            &signature::RSA_PKCS1_3072_8192_SHA384,
            key.public_spki_der(),
        )
        .verify(b"m", &sig)
        .unwrap();
    }

    #[test]
    #[should_panic(expected = "rsa_1024_public_jwk")]
    fn rsa_1024_generation_points_to_the_fixed_vector() {
        let _ = TestKey::rsa_with_bits(Algorithm::RS256, 1024);
    }

    #[test]
    fn the_fixed_1024_bit_token_is_really_signed_by_the_fixed_key() {
        let token = rsa_1024_token();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = b64url_decode(sig).unwrap();
        assert_eq!(sig.len(), 128);
        let jwk = rsa_1024_public_jwk();
        let from_jwk = public_bytes_from_jwk(&jwk);
        let legacy = &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY;
        UnparsedPublicKey::new(legacy, &from_jwk)
            .verify(input.as_bytes(), &sig)
            .unwrap();
        UnparsedPublicKey::new(legacy, rsa_1024_public_spki_der())
            .verify(input.as_bytes(), &sig)
            .unwrap();
        // The modern 2048+ verifier refuses the key.
        assert!(
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &from_jwk)
                .verify(input.as_bytes(), &sig)
                .is_err()
        );
    }

    #[test]
    fn pem_wraps_the_spki_at_64_characters() {
        let key = TestKey::generate(Algorithm::RS256);
        let pem = key.public_pem();
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN PUBLIC KEY-----"));
        assert_eq!(lines.last(), Some(&"-----END PUBLIC KEY-----"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.concat())
            .unwrap();
        assert_eq!(der, key.public_spki_der());
    }

    #[test]
    fn with_alg_reuses_rsa_material_across_paddings() {
        let rs = TestKey::generate(Algorithm::RS256).with_kid("r");
        let ps = rs.clone().with_alg(Algorithm::PS256);
        assert_eq!(ps.kid(), "r");
        assert_eq!(ps.alg(), Algorithm::PS256);
        assert_eq!(ps.public_jwk()["n"], rs.public_jwk()["n"]);
        UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, rs.public_spki_der())
            .verify(b"m", &ps.sign(b"m"))
            .unwrap();
    }

    use crate::b64url_decode;
}
