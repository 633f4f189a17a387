//! Verification keys: a public key or an HMAC secret, parsed once when loaded and bound to
//! exactly the algorithms it may verify.
//!
//! ```
//! use portcullis_core::{Algorithm, AlgorithmSet, VerifyingKey};
//!
//! let secret = [7u8; 32];
//! let key = VerifyingKey::hmac(Algorithm::HS256, &secret).unwrap();
//! assert!(key.algorithms().contains(Algorithm::HS256));
//! assert!(!key.algorithms().contains(Algorithm::RS256));
//! // A secret shorter than the hash output is refused.
//! assert!(VerifyingKey::hmac(Algorithm::HS512, &secret).is_err());
//! ```

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;

use crate::alg::{Algorithm, AlgorithmSet, Family};
use crate::b64;
use crate::der;
use crate::error::{ErrorKind, KeyError, KeyErrorKind};

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A JSON Web Key (RFC 7517) as far as verification needs it. Unknown members are ignored;
/// a member given twice is an error.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm the key is meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use: `sig` or `enc`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Curve of an EC or OKP key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC x coordinate, or the OKP public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Symmetric key value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// Private RSA/EC/OKP member: present means someone published a private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
}

impl Jwk {
    /// The JWK SHA-256 thumbprint (RFC 7638), base64url without padding: SHA-256 over the
    /// required members of the key type, in lexicographic order, as JSON without whitespace
    /// (`RSA`: `e`, `kty`, `n`; `EC`: `crv`, `kty`, `x`, `y`; `OKP`: `crv`, `kty`, `x`;
    /// `oct`: `k`, `kty`). The members are hashed as written: nothing is decoded or checked,
    /// so a key that portcullis refuses still has a thumbprint to name it by.
    ///
    /// `None` for another `kty` or when a required member is missing. For an `oct` key the
    /// thumbprint is a hash of the secret: show it only for a key that is already public.
    ///
    /// ```
    /// use portcullis_core::Jwk;
    ///
    /// let jwk: Jwk = serde_json::from_str(
    ///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// ).unwrap();
    /// assert_eq!(jwk.thumbprint_sha256().unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// ```
    #[must_use]
    pub fn thumbprint_sha256(&self) -> Option<String> {
        // A JSON string, escaped where JSON requires it (RFC 7638 section 3.3).
        let q = |member: Option<&String>| member.and_then(|v| serde_json::to_string(v).ok());
        let canonical = match self.kty.as_str() {
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                q(self.e.as_ref())?,
                q(self.n.as_ref())?
            ),
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                q(self.crv.as_ref())?,
                q(self.x.as_ref())?,
                q(self.y.as_ref())?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                q(self.crv.as_ref())?,
                q(self.x.as_ref())?
            ),
            "oct" => format!(r#"{{"k":{},"kty":"oct"}}"#, q(self.k.as_ref())?),
            _ => return None,
        };
        Some(sha256_b64url(canonical.as_bytes()).into())
    }
}

fn sha256_b64url(bytes: &[u8]) -> Box<str> {
    use base64::Engine as _;
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(hash.as_ref())
        .into_boxed_str()
}

/// The RFC 7638 thumbprint of a public key given by its values (big-endian integers without
/// leading zeros, full-length curve coordinates), as its JWK would be written.
fn public_thumbprint(members: PublicMembers<'_>) -> Box<str> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let canonical = match members {
        PublicMembers::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64(der::strip_leading_zeros(e)),
            b64(der::strip_leading_zeros(n))
        ),
        PublicMembers::Ec { curve, x, y } => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            curve.name(),
            b64(x),
            b64(y)
        ),
        PublicMembers::Ed25519 { x } => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x))
        }
    };
    sha256_b64url(canonical.as_bytes())
}

#[derive(Clone, Copy)]
enum PublicMembers<'a> {
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    Ec {
        curve: Curve,
        x: &'a [u8],
        y: &'a [u8],
    },
    Ed25519 {
        x: &'a [u8],
    },
}

/// The thumbprint of an EC public key from its SEC 1 uncompressed point; `None` for any
/// other encoding.
fn ec_point_thumbprint(curve: Curve, point: &[u8]) -> Option<Box<str>> {
    let len = curve.coordinate_len();
    let (&tag, coords) = point.split_first()?;
    if tag != 0x04 || coords.len() != 2 * len {
        return None;
    }
    let (x, y) = coords.split_at_checked(len)?;
    Some(public_thumbprint(PublicMembers::Ec { curve, x, y }))
}

/// A key that verifies signatures, parsed once, with the algorithms it may verify.
pub struct VerifyingKey {
    /// Shared with the claims of every token this key verifies (no copy per token).
    kid: Option<Arc<str>>,
    algorithms: AlgorithmSet,
    material: Material,
    /// RFC 7638 SHA-256 thumbprint of a public key; never computed for a shared secret.
    thumbprint: Option<Box<str>>,
}

enum Material {
    /// One parsed key per permitted algorithm (aws-lc-rs binds a parsed key to one
    /// padding/hash combination). At most six entries (RSA with RS* and PS*).
    Public(Vec<(Algorithm, ParsedPublicKey)>),
    /// HMAC keys, one per permitted algorithm.
    Hmac(Vec<(Algorithm, hmac::Key)>),
}

fn verification_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
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
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
    })
}

fn hmac_algorithm(alg: Algorithm) -> Option<(hmac::Algorithm, usize)> {
    Some(match alg {
        Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
        Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
        Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
        _ => return None,
    })
}

/// The exact signature length of the fixed-size algorithms, checked before any crypto.
const fn fixed_signature_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::ES256 => Some(64),
        Algorithm::ES384 => Some(96),
        Algorithm::ES512 => Some(132),
        Algorithm::EdDSA | Algorithm::Ed25519 => Some(64),
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

const RSA_ALGS: AlgorithmSet = AlgorithmSet::from_slice(&[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
]);

#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn alg(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
            Curve::P521 => Algorithm::ES512,
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

impl VerifyingKey {
    /// An HMAC secret bound to one HS* algorithm. The secret must be at least as long as the
    /// hash output (32, 48 or 64 bytes), as RFC 7518 section 3.2 requires.
    ///
    /// # Errors
    /// [`KeyErrorKind::AlgorithmMismatch`] for a non-HS algorithm,
    /// [`KeyErrorKind::WeakSecret`] for a short secret.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let (hmac_alg, min) = hmac_algorithm(alg).ok_or(KeyErrorKind::AlgorithmMismatch)?;
        if secret.len() < min {
            return Err(KeyErrorKind::WeakSecret {
                len: secret.len(),
                min,
            }
            .into());
        }
        Ok(VerifyingKey {
            kid: None,
            algorithms: AlgorithmSet::only(alg),
            material: Material::Hmac(vec![(alg, hmac::Key::new(hmac_alg, secret))]),
            thumbprint: None,
        })
    }

    /// A public key from DER SubjectPublicKeyInfo (RSA, EC P-256/384/521, Ed25519), bound to
    /// the algorithms its type implies, intersected with `allowed`.
    ///
    /// # Errors
    /// An unsupported or invalid key, an RSA modulus under 2048 bits, or no algorithm left.
    pub fn from_spki_der(der: &[u8], allowed: AlgorithmSet) -> Result<Self, KeyError> {
        let spki = der::parse_spki(der)
            .ok_or(KeyErrorKind::InvalidKey("not a DER SubjectPublicKeyInfo"))?;
        match spki.algorithm {
            der::OID_RSA_ENCRYPTION => {
                let (n, e) = der::rsa_parts(spki.key)
                    .ok_or(KeyErrorKind::InvalidKey("bad RSA public key"))?;
                check_rsa_bits(n)?;
                Ok(Self::public(RSA_ALGS.intersection(allowed), der)?
                    .with_thumbprint(Some(public_thumbprint(PublicMembers::Rsa { n, e }))))
            }
            der::OID_EC_PUBLIC_KEY => {
                let curve = match spki.parameter {
                    Some(der::OID_P256) => Curve::P256,
                    Some(der::OID_P384) => Curve::P384,
                    Some(der::OID_P521) => Curve::P521,
                    _ => return Err(KeyErrorKind::Unsupported("elliptic curve").into()),
                };
                Ok(
                    Self::public(AlgorithmSet::only(curve.alg()).intersection(allowed), der)?
                        .with_thumbprint(ec_point_thumbprint(curve, spki.key)),
                )
            }
            der::OID_ED25519 => {
                let thumbprint = (spki.key.len() == 32)
                    .then(|| public_thumbprint(PublicMembers::Ed25519 { x: spki.key }));
                Ok(
                    Self::public(AlgorithmSet::ED25519.intersection(allowed), der)?
                        .with_thumbprint(thumbprint),
                )
            }
            _ => Err(KeyErrorKind::Unsupported("SubjectPublicKeyInfo algorithm").into()),
        }
    }

    /// A public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
    /// (PKCS#1). Whitespace around and inside the base64 body is tolerated.
    ///
    /// # Errors
    /// As [`VerifyingKey::from_spki_der`], or [`KeyErrorKind::InvalidKey`] for bad PEM.
    pub fn from_pem(pem: &str, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        let (label, der) =
            decode_pem(pem).ok_or(KeyErrorKind::InvalidKey("not a PEM public key"))?;
        match label {
            PemLabel::Spki => Self::from_spki_der(&der, allowed),
            PemLabel::RsaPkcs1 => {
                let (n, e) =
                    der::rsa_parts(&der).ok_or(KeyErrorKind::InvalidKey("bad RSA public key"))?;
                check_rsa_bits(n)?;
                let thumbprint = public_thumbprint(PublicMembers::Rsa { n, e });
                Ok(Self::public(RSA_ALGS.intersection(allowed), &der)?
                    .with_thumbprint(Some(thumbprint)))
            }
        }
    }

    /// A key from a JWK given as JSON text.
    ///
    /// # Errors
    /// As [`VerifyingKey::from_jwk`], or [`KeyErrorKind::MalformedJwk`] for bad JSON.
    pub fn from_jwk_json(json: &str, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        let jwk: Jwk = serde_json::from_str(json)
            .map_err(|_| KeyErrorKind::MalformedJwk("not a JWK object"))?;
        Self::from_jwk(&jwk, allowed)
    }

    /// A key from a JWK (RFC 7517): `use` must be `sig` if present, `key_ops` must contain
    /// `verify` if present; the algorithms are the JWK's `alg` if present, else those implied
    /// by `kty`/`crv`, intersected with `allowed`. An `oct` key is accepted only when
    /// `allowed` contains an HS* algorithm.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong with the key.
    pub fn from_jwk(jwk: &Jwk, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyErrorKind::NotForVerification.into());
        }
        if let Some(ops) = &jwk.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(KeyErrorKind::NotForVerification.into());
        }
        let jwk_alg = match jwk.alg.as_deref() {
            None => None,
            Some(name) => match Algorithm::from_jose(name) {
                Some(alg) => Some(alg),
                // An encryption algorithm ("RSA-OAEP", "ECDH-ES", ...) or an unknown one.
                None => return Err(KeyErrorKind::NotForVerification.into()),
            },
        };
        let restrict = |implied: AlgorithmSet| -> Result<AlgorithmSet, KeyError> {
            let set = match jwk_alg {
                Some(alg) if implied.contains(alg) => AlgorithmSet::only(alg),
                Some(_) => return Err(KeyErrorKind::AlgorithmMismatch.into()),
                None => implied,
            };
            Ok(set.intersection(allowed))
        };
        let mut key = match jwk.kty.as_str() {
            "RSA" => {
                if jwk.d.is_some() {
                    return Err(KeyErrorKind::PrivateKey.into());
                }
                let n = b64_member(jwk.n.as_deref(), "RSA key without valid `n`")?;
                let e = b64_member(jwk.e.as_deref(), "RSA key without valid `e`")?;
                check_rsa_bits(&n)?;
                let der = der::rsa_public_key_pkcs1(&n, &e);
                Self::public(restrict(RSA_ALGS)?, &der)?
                    .with_thumbprint(Some(public_thumbprint(PublicMembers::Rsa { n: &n, e: &e })))
            }
            "EC" => {
                if jwk.d.is_some() {
                    return Err(KeyErrorKind::PrivateKey.into());
                }
                let curve = match jwk.crv.as_deref() {
                    Some("P-256") => Curve::P256,
                    Some("P-384") => Curve::P384,
                    Some("P-521") => Curve::P521,
                    Some(_) => return Err(KeyErrorKind::Unsupported("EC curve").into()),
                    None => return Err(KeyErrorKind::MalformedJwk("EC key without `crv`").into()),
                };
                let x = b64_member(jwk.x.as_deref(), "EC key without valid `x`")?;
                let y = b64_member(jwk.y.as_deref(), "EC key without valid `y`")?;
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err(
                        KeyErrorKind::InvalidKey("EC coordinate of the wrong length").into(),
                    );
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::public(restrict(AlgorithmSet::only(curve.alg()))?, &point)?
                    .with_thumbprint(ec_point_thumbprint(curve, &point))
            }
            "OKP" => {
                if jwk.d.is_some() {
                    return Err(KeyErrorKind::PrivateKey.into());
                }
                match jwk.crv.as_deref() {
                    Some("Ed25519") => {}
                    Some("X25519" | "X448") => return Err(KeyErrorKind::NotForVerification.into()),
                    Some(_) => return Err(KeyErrorKind::Unsupported("OKP curve").into()),
                    None => return Err(KeyErrorKind::MalformedJwk("OKP key without `crv`").into()),
                }
                let x = b64_member(jwk.x.as_deref(), "OKP key without valid `x`")?;
                if x.len() != 32 {
                    return Err(KeyErrorKind::InvalidKey("Ed25519 key of the wrong length").into());
                }
                // `EdDSA` and `Ed25519` name one signature on this key (RFC 9864): a JWK that
                // names either verifies tokens that name either.
                let algorithms = match jwk_alg {
                    None | Some(Algorithm::EdDSA | Algorithm::Ed25519) => {
                        AlgorithmSet::ED25519.intersection(allowed)
                    }
                    Some(_) => return Err(KeyErrorKind::AlgorithmMismatch.into()),
                };
                Self::public(algorithms, &x)?
                    .with_thumbprint(Some(public_thumbprint(PublicMembers::Ed25519 { x: &x })))
            }
            "oct" => {
                if !allowed.has_symmetric() {
                    return Err(KeyErrorKind::SymmetricNotAllowed.into());
                }
                let k = b64_member(jwk.k.as_deref(), "oct key without valid `k`")?;
                let mut fitting = AlgorithmSet::EMPTY;
                for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    if hmac_algorithm(alg).is_some_and(|(_, min)| k.len() >= min) {
                        fitting.insert(alg);
                    }
                }
                if let Some(alg) = jwk_alg {
                    if !alg.is_symmetric() {
                        return Err(KeyErrorKind::AlgorithmMismatch.into());
                    }
                    if !fitting.contains(alg) {
                        let min = hmac_algorithm(alg).map_or(0, |(_, m)| m);
                        return Err(KeyErrorKind::WeakSecret { len: k.len(), min }.into());
                    }
                }
                if fitting.is_empty() {
                    return Err(KeyErrorKind::WeakSecret {
                        len: k.len(),
                        min: 32,
                    }
                    .into());
                }
                let algs = restrict(fitting)?;
                let keys = algs
                    .iter()
                    .filter_map(|alg| {
                        hmac_algorithm(alg).map(|(h, _)| (alg, hmac::Key::new(h, &k)))
                    })
                    .collect::<Vec<_>>();
                if keys.is_empty() {
                    return Err(KeyErrorKind::NoUsableAlgorithm.into());
                }
                VerifyingKey {
                    kid: None,
                    algorithms: algs,
                    material: Material::Hmac(keys),
                    thumbprint: None,
                }
            }
            _ => return Err(KeyErrorKind::Unsupported("kty").into()),
        };
        key.kid = jwk.kid.as_deref().map(Into::into);
        Ok(key)
    }

    fn public(algs: AlgorithmSet, bytes: &[u8]) -> Result<Self, KeyError> {
        if algs.is_empty() {
            return Err(KeyErrorKind::NoUsableAlgorithm.into());
        }
        let mut parsed = Vec::with_capacity(algs.len());
        for alg in algs.iter() {
            let Some(verification) = verification_algorithm(alg) else {
                return Err(KeyErrorKind::AlgorithmMismatch.into());
            };
            let key = ParsedPublicKey::new(verification, bytes).map_err(|_| {
                KeyErrorKind::InvalidKey("public key rejected by the crypto library")
            })?;
            parsed.push((alg, key));
        }
        Ok(VerifyingKey {
            kid: None,
            algorithms: algs,
            material: Material::Public(parsed),
            thumbprint: None,
        })
    }

    fn with_thumbprint(mut self, thumbprint: Option<Box<str>>) -> Self {
        self.thumbprint = thumbprint;
        self
    }

    /// The same key with a key id.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    /// The same key restricted to fewer algorithms.
    ///
    /// # Errors
    /// [`KeyErrorKind::NoUsableAlgorithm`] when no algorithm remains.
    pub fn restrict_to(mut self, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        self.algorithms = self.algorithms.intersection(allowed);
        if self.algorithms.is_empty() {
            return Err(KeyErrorKind::NoUsableAlgorithm.into());
        }
        match &mut self.material {
            Material::Public(keys) => keys.retain(|(a, _)| allowed.contains(*a)),
            Material::Hmac(keys) => keys.retain(|(a, _)| allowed.contains(*a)),
        }
        Ok(self)
    }

    /// The key id, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `kid`, shared: what the claims of a token this key verified point to.
    pub(crate) fn shared_kid(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    /// The RFC 7638 SHA-256 thumbprint of a public key (base64url), computed when the key was
    /// loaded: the same value whether it came as a JWK, PEM or DER, and the value
    /// [`Jwk::thumbprint_sha256`] gives for its (conforming) JWK. Names a key in a log line or
    /// a report without printing it.
    ///
    /// `None` for an HMAC secret: a hash of a shared secret is not printed anywhere.
    #[must_use]
    pub fn thumbprint(&self) -> Option<&str> {
        self.thumbprint.as_deref()
    }

    /// The algorithms this key may verify.
    #[must_use]
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The kind of key.
    #[must_use]
    pub fn family(&self) -> Family {
        match &self.material {
            Material::Hmac(_) => Family::Hmac,
            Material::Public(keys) => keys.first().map_or(Family::Rsa, |(a, _)| a.family()),
        }
    }

    /// Checks `signature` over `message` with algorithm `alg`.
    ///
    /// # Errors
    /// [`ErrorKind::KeyAlgorithmMismatch`] when this key may not verify `alg`;
    /// [`ErrorKind::InvalidSignature`] when it does not verify, including a signature of the
    /// wrong length for a fixed-size algorithm (checked before any crypto runs).
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ErrorKind> {
        if let Some(len) = fixed_signature_len(alg)
            && signature.len() != len
        {
            return Err(ErrorKind::InvalidSignature);
        }
        match &self.material {
            Material::Public(keys) => {
                let Some((_, key)) = keys.iter().find(|(a, _)| *a == alg) else {
                    return Err(ErrorKind::KeyAlgorithmMismatch(alg));
                };
                key.verify_sig(message, signature)
                    .map_err(|_| ErrorKind::InvalidSignature)
            }
            Material::Hmac(keys) => {
                let Some((_, key)) = keys.iter().find(|(a, _)| *a == alg) else {
                    return Err(ErrorKind::KeyAlgorithmMismatch(alg));
                };
                hmac::verify(key, message, signature).map_err(|_| ErrorKind::InvalidSignature)
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material: HMAC keys are secrets.
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family())
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

fn b64_member(value: Option<&str>, what: &'static str) -> Result<Vec<u8>, KeyError> {
    value
        .and_then(b64::decode)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KeyErrorKind::MalformedJwk(what).into())
}

fn check_rsa_bits(n: &[u8]) -> Result<(), KeyError> {
    let bits = der::bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err(KeyErrorKind::WeakRsaKey { bits }.into());
    }
    Ok(())
}

enum PemLabel {
    Spki,
    RsaPkcs1,
}

fn decode_pem(pem: &str) -> Option<(PemLabel, Vec<u8>)> {
    use base64::Engine as _;
    let pem = pem.trim();
    let rest = pem.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let kind = match label {
        "PUBLIC KEY" => PemLabel::Spki,
        "RSA PUBLIC KEY" => PemLabel::RsaPkcs1,
        _ => return None,
    };
    let end = format!("-----END {label}-----");
    let body = rest.strip_suffix(end.as_str())?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    Some((kind, der))
}
