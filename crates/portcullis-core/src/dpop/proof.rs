//! The checks of one DPoP proof that need no state (RFC 9449 section 4.3): its shape, header,
//! claims against the request, and signature with the key it carries.

use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::alg::{Algorithm, AlgorithmSet};
use crate::error::{ErrorKind, KeyErrorKind, MalformedPart, ProofError};
use crate::jws;
use crate::key::{Jwk, VerifyingKey};
use crate::scan::{Reader, ScanError};
use crate::verify::Presentation;

use super::uri;

/// The longest `jti` accepted: enough for any UUID or random identifier, and a bound on what
/// an attacker makes the replay store hash.
pub(crate) const MAX_JTI_LEN: usize = 256;

/// What the stateless checks decided and what the stateful ones need.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The RFC 7638 thumbprint of the proof's key.
    pub(crate) jkt: [u8; 32],
    /// SHA-256 over the key's thumbprint and the proof's `jti`: the replay store's key.
    pub(crate) replay_key: [u8; 32],
    /// The proof's `iat`.
    pub(crate) iat: f64,
    /// The proof's `nonce`, if any.
    pub(crate) nonce: Option<String>,
}

/// The rules a proof is held to.
pub(crate) struct Rules {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) max_age: f64,
    pub(crate) max_skew: f64,
    pub(crate) max_len: usize,
    pub(crate) keys: KeyCache,
}

/// The proof keys parsed lately, by their exact public members: a client signs its proofs
/// with one key for a session, and parsing a P-256 key costs a tenth of verifying with it.
/// Direct-mapped and bounded: a collision replaces the older key; a hit requires the very
/// same members and algorithm, so the cache can only save work, never change a verdict.
pub(crate) struct KeyCache {
    slots: Box<[Mutex<Option<CachedKey>>]>,
    hasher: RandomState,
}

struct CachedKey {
    id: Box<str>,
    key: Arc<VerifyingKey>,
    jkt: [u8; 32],
}

/// Slots of the proof-key cache.
const KEY_SLOTS: usize = 1024;

impl KeyCache {
    pub(crate) fn new() -> Self {
        KeyCache {
            slots: (0..KEY_SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The parsed key and thumbprint of `jwk` for `alg`, from the cache or parsed now.
    fn get(&self, alg: Algorithm, jwk: &Jwk) -> Result<(Arc<VerifyingKey>, [u8; 32]), ProofError> {
        // Each member with its length (absent: `-`): two different keys never share an id.
        let mut id = String::with_capacity(160);
        for member in [
            Some(alg.as_str()),
            Some(jwk.kty.as_str()),
            jwk.crv.as_deref(),
            jwk.x.as_deref(),
            jwk.y.as_deref(),
            jwk.n.as_deref(),
            jwk.e.as_deref(),
            jwk.alg.as_deref(),
            jwk.use_.as_deref(),
        ] {
            match member {
                Some(value) => {
                    id.push_str(&value.len().to_string());
                    id.push(':');
                    id.push_str(value);
                }
                None => id.push('-'),
            }
        }
        let hash = usize::try_from(self.hasher.hash_one(&id) % KEY_SLOTS as u64).unwrap_or(0);
        let slot = self.slots.get(hash);
        if let Some(slot) = slot
            && let Ok(cached) = slot.lock()
            && let Some(cached) = &*cached
            && *cached.id == *id
        {
            return Ok((cached.key.clone(), cached.jkt));
        }
        let key = VerifyingKey::from_jwk(jwk, AlgorithmSet::only(alg)).map_err(|e| {
            if *e.kind() == KeyErrorKind::PrivateKey {
                ProofError::PrivateKey
            } else {
                ProofError::InvalidKey
            }
        })?;
        let jkt = key
            .thumbprint()
            .and_then(crate::b64::decode)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or(ProofError::InvalidKey)?;
        let key = Arc::new(key);
        if let Some(slot) = slot
            && let Ok(mut cached) = slot.lock()
        {
            *cached = Some(CachedKey {
                id: id.into_boxed_str(),
                key: key.clone(),
                jkt,
            });
        }
        Ok((key, jkt))
    }
}

fn proof_error(kind: &ErrorKind) -> ProofError {
    match kind {
        ErrorKind::Malformed(part) => ProofError::Malformed(*part),
        ErrorKind::TooLarge { .. } => ProofError::TooLarge,
        _ => ProofError::Malformed(MalformedPart::Header),
    }
}

/// A header member as found: absent, of the wrong JSON type (`Some(None)`), or typed.
type Field<T> = Option<Option<T>>;

#[derive(Default)]
struct Header<'a> {
    alg: Field<Cow<'a, str>>,
    typ: Field<Cow<'a, str>>,
    crit: bool,
    b64: bool,
    jwk: Field<Jwk>,
    private: bool,
}

/// The members of a JWK that only a private (or symmetric) key has.
fn is_private_member(name: &str) -> bool {
    matches!(name, "d" | "p" | "q" | "dp" | "dq" | "qi" | "oth" | "k")
}

fn parse_header(json: &[u8]) -> Result<Header<'_>, ProofError> {
    let malformed = ProofError::Malformed(MalformedPart::Header);
    let text = std::str::from_utf8(json).map_err(|_| malformed)?;
    let mut h = Header::default();
    let scanned = Reader::new(text).top_object(|r, name| {
        match &*name {
            "alg" => h.alg = Some(r.string_or_other()?),
            "typ" => h.typ = Some(r.string_or_other()?),
            "crit" => {
                h.crit = true;
                r.skip_value()?;
            }
            "b64" => {
                h.b64 = true;
                r.skip_value()?;
            }
            "jwk" => {
                let mut jwk = Jwk::default();
                let mut kty = None;
                let mut wrong_type = false;
                let object = r.object_or_other(|r, member| {
                    let slot = match &*member {
                        "kty" => &mut kty,
                        "crv" => &mut jwk.crv,
                        "x" => &mut jwk.x,
                        "y" => &mut jwk.y,
                        "n" => &mut jwk.n,
                        "e" => &mut jwk.e,
                        "alg" => &mut jwk.alg,
                        "use" => &mut jwk.use_,
                        name => {
                            h.private |= is_private_member(name);
                            return r.skip_value();
                        }
                    };
                    match r.string_or_other()? {
                        Some(value) => *slot = Some(value.into_owned()),
                        None => wrong_type = true,
                    }
                    Ok(())
                })?;
                h.jwk = Some(match (object, kty) {
                    (true, Some(kty)) if !wrong_type => {
                        jwk.kty = kty;
                        Some(jwk)
                    }
                    _ => None,
                });
            }
            _ => r.skip_value()?,
        }
        Ok(())
    });
    match scanned {
        Ok(()) => Ok(h),
        Err(ScanError::Duplicate) => {
            Err(ProofError::Malformed(MalformedPart::DuplicateHeaderMember))
        }
        Err(ScanError::Syntax) => Err(malformed),
    }
}

#[derive(Default)]
struct Payload<'a> {
    jti: Field<Cow<'a, str>>,
    htm: Field<Cow<'a, str>>,
    htu: Field<Cow<'a, str>>,
    iat: Field<f64>,
    ath: Field<Cow<'a, str>>,
    nonce: Field<Cow<'a, str>>,
}

fn parse_payload(json: &[u8]) -> Result<Payload<'_>, ProofError> {
    let malformed = ProofError::Malformed(MalformedPart::Payload);
    let text = std::str::from_utf8(json).map_err(|_| malformed)?;
    let mut p = Payload::default();
    let scanned = Reader::new(text).top_object(|r, name| {
        match &*name {
            "jti" => p.jti = Some(r.string_or_other()?),
            "htm" => p.htm = Some(r.string_or_other()?),
            "htu" => p.htu = Some(r.string_or_other()?),
            "iat" => p.iat = Some(r.number_or_other()?),
            "ath" => p.ath = Some(r.string_or_other()?),
            "nonce" => p.nonce = Some(r.string_or_other()?),
            _ => r.skip_value()?,
        }
        Ok(())
    });
    match scanned {
        Ok(()) => Ok(p),
        Err(ScanError::Duplicate) => {
            Err(ProofError::Malformed(MalformedPart::DuplicatePayloadMember))
        }
        Err(ScanError::Syntax) => Err(malformed),
    }
}

fn required<T>(field: Field<T>, name: &'static str) -> Result<T, ProofError> {
    match field {
        None => Err(ProofError::MissingClaim(name)),
        Some(None) => Err(ProofError::InvalidClaim(name)),
        Some(Some(value)) => Ok(value),
    }
}

/// `typ` is the media type `application/dpop+jwt`: case-insensitive, `application/` optional
/// (RFC 7515 section 4.1.9).
fn is_dpop_type(typ: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..),
        _ => Some(typ),
    };
    typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
}

/// base64url(SHA-256(`bytes`)), unpadded.
pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// Every check of RFC 9449 section 4.3 that needs no state, on the proof of `presentation`
/// (whose target URI must be known), at time `now`. The cheap checks come first, the
/// signature last; nothing is remembered.
pub(crate) fn check(
    proof: &str,
    presentation: &Presentation<'_>,
    rules: &Rules,
    now: f64,
) -> Result<Checked, ProofError> {
    let decoded = jws::decode(proof, rules.max_len).map_err(|e| proof_error(&e))?;
    let header = parse_header(decoded.header())?;

    // The header: typ, alg, no crit, a public jwk.
    match header.typ {
        Some(Some(typ)) if is_dpop_type(&typ) => {}
        _ => return Err(ProofError::WrongType),
    }
    let alg = match header.alg {
        Some(Some(name)) => Algorithm::from_jose(&name),
        None | Some(None) => return Err(ProofError::Malformed(MalformedPart::Header)),
    };
    let alg = match alg {
        Some(alg) if !alg.is_symmetric() && rules.algorithms.contains(alg) => alg,
        _ => return Err(ProofError::DisallowedAlgorithm),
    };
    if header.crit || header.b64 {
        return Err(ProofError::UnknownCriticalHeader);
    }
    if header.private {
        return Err(ProofError::PrivateKey);
    }
    let jwk = match header.jwk {
        None => return Err(ProofError::MissingKey),
        Some(None) => return Err(ProofError::InvalidKey),
        Some(Some(jwk)) => jwk,
    };

    // The claims, against the request.
    let payload = parse_payload(decoded.payload())?;
    let jti = required(payload.jti, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(ProofError::InvalidClaim("jti"));
    }
    let htm = required(payload.htm, "htm")?;
    let htu = required(payload.htu, "htu")?;
    let iat = required(payload.iat, "iat")?;
    let ath = required(payload.ath, "ath")?;
    let nonce = match payload.nonce {
        None => None,
        Some(Some(nonce)) => Some(nonce.into_owned()),
        Some(None) => return Err(ProofError::InvalidClaim("nonce")),
    };
    if *htm != *presentation.method() {
        return Err(ProofError::WrongMethod);
    }
    let target = presentation.htu().ok_or(ProofError::UnknownTargetUri)?;
    let target = uri::normalize(&target).ok_or(ProofError::UnknownTargetUri)?;
    if uri::normalize(&htu).as_deref() != Some(target.as_str()) {
        return Err(ProofError::WrongUri);
    }
    if !iat.is_finite() {
        return Err(ProofError::InvalidClaim("iat"));
    }
    if now - iat > rules.max_age {
        return Err(ProofError::TooOld);
    }
    if iat - now > rules.max_skew {
        return Err(ProofError::IssuedInFuture);
    }
    if *ath != *sha256_b64(presentation.token().as_bytes()) {
        return Err(ProofError::WrongTokenHash);
    }

    // The key and the signature, last: the expensive part.
    let (key, jkt) = rules.keys.get(alg, &jwk)?;
    key.verify(alg, decoded.signing_input, decoded.signature())
        .map_err(|_| ProofError::InvalidSignature)?;
    let replay_key = sha256(&[
        b"portcullis dpop jti\0",
        &jkt,
        &(jti.len() as u64).to_be_bytes(),
        jti.as_bytes(),
    ]);
    Ok(Checked {
        jkt,
        replay_key,
        iat,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_type_compares_as_rfc_7515_says() {
        for ok in [
            "dpop+jwt",
            "DPoP+JWT",
            "application/dpop+jwt",
            "Application/DPOP+jwt",
        ] {
            assert!(is_dpop_type(ok), "{ok}");
        }
        for bad in [
            "jwt",
            "at+jwt",
            "dpop+jwt ",
            "application/",
            "application/jwt",
            "x/dpop+jwt",
            "",
        ] {
            assert!(!is_dpop_type(bad), "{bad}");
        }
    }

    fn ed25519(x: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(x.into()),
            ..Jwk::default()
        }
    }

    #[test]
    fn the_key_cache_saves_work_and_never_mixes_keys() {
        let cache = KeyCache::new();
        // RFC 8037 appendix A.2.
        let jwk = ed25519("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        let (first, jkt) = cache.get(Algorithm::EdDSA, &jwk).unwrap();
        let (again, jkt_again) = cache.get(Algorithm::EdDSA, &jwk).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "a hit");
        assert_eq!(jkt, jkt_again);
        assert_eq!(
            crate::b64::decode("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k").unwrap(),
            jkt,
            "RFC 8037's thumbprint"
        );
        // Another algorithm name for the same key: its own entry.
        let (ed, _) = cache.get(Algorithm::Ed25519, &jwk).unwrap();
        assert!(!Arc::ptr_eq(&first, &ed));
        // Another key: another thumbprint.
        let other = ed25519("GKLz5tZ9D3GX5xIbVOFFkn0oNxCqRAxM0G3s4QTBd8M");
        if let Ok((_, other_jkt)) = cache.get(Algorithm::EdDSA, &other) {
            assert_ne!(other_jkt, jkt);
        }
        // Refusals are not remembered: a bad key stays bad, a good one stays good.
        let bad = ed25519("AAAA");
        assert_eq!(
            cache.get(Algorithm::EdDSA, &bad).unwrap_err(),
            ProofError::InvalidKey
        );
        assert_eq!(
            cache.get(Algorithm::EdDSA, &bad).unwrap_err(),
            ProofError::InvalidKey
        );
        // A key may not verify an algorithm its type does not fit.
        assert_eq!(
            cache.get(Algorithm::ES256, &jwk).unwrap_err(),
            ProofError::InvalidKey
        );
    }

    #[test]
    fn private_members_are_recognised() {
        for name in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(is_private_member(name));
        }
        for name in [
            "x", "y", "n", "e", "kid", "crv", "kty", "use", "alg", "key_ops",
        ] {
            assert!(!is_private_member(name));
        }
    }
}
