//! The checks of one DPoP proof that need no state (RFC 9449 section 4.3): its shape, header,
//! claims against the request, and signature with the key it carries.

use std::borrow::Cow;

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
    let key = VerifyingKey::from_jwk(&jwk, AlgorithmSet::only(alg)).map_err(|e| {
        if *e.kind() == KeyErrorKind::PrivateKey {
            ProofError::PrivateKey
        } else {
            ProofError::InvalidKey
        }
    })?;
    key.verify(alg, decoded.signing_input, decoded.signature())
        .map_err(|_| ProofError::InvalidSignature)?;
    let jkt = key
        .thumbprint()
        .and_then(crate::b64::decode)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(ProofError::InvalidKey)?;
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
