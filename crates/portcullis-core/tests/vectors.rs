//! Published test vectors run through portcullis-core: the JWS examples of RFC 7515 appendix A
//! and RFC 8037 appendix A.4 (signature level and whole-token level), and the Wycheproof
//! ECDSA (P1363), Ed25519, RSA PKCS#1 v1.5, RSA-PSS and HMAC test sets (signature level).
//!
//! Every Wycheproof vector is either run, with its verdict checked, or skipped under a named
//! class that says why it does not apply to JWS; each test prints a per-set summary to stderr
//! (`cargo test -p portcullis-core --test vectors -- --nocapture` shows it).

// This is test code: a failed unwrap, expect, panic or index is a failed test, and the
// per-set summaries are printed to stderr on purpose.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::{
    Algorithm, AlgorithmSet, ErrorKind, KeyError, KeyErrorKind, KeySet, MalformedPart, ManualClock,
    TypPolicy, Validator, VerifyingKey,
};
use wycheproof::{HashFunction, TestResult};

// ---------------------------------------------------------------------------------------------
// RFC 7515 appendix A and RFC 8037 appendix A.4
// ---------------------------------------------------------------------------------------------

/// One JWS example of an RFC: the public JWK and the compact serialization, as fixture files.
struct RfcExample {
    name: &'static str,
    jwk: &'static str,
    jws: &'static str,
    alg: Algorithm,
    /// Whether the payload is the JWT claims set of RFC 7515 A.1 (`iss` "joe", `exp`
    /// 1300819380). RFC 7515 A.4 signs the text "Payload" and RFC 8037 A.4 the text
    /// "Example of Ed25519 signing": neither is a JSON object.
    jwt_claims: bool,
}

const RFC7515_A1_HS256: RfcExample = RfcExample {
    name: "RFC 7515 A.1 (HS256)",
    jwk: include_str!("fixtures/rfc7515_a1.jwk.json"),
    jws: include_str!("fixtures/rfc7515_a1.jws"),
    alg: Algorithm::HS256,
    jwt_claims: true,
};

const RFC7515_A2_RS256: RfcExample = RfcExample {
    name: "RFC 7515 A.2 (RS256)",
    jwk: include_str!("fixtures/rfc7515_a2.jwk.json"),
    jws: include_str!("fixtures/rfc7515_a2.jws"),
    alg: Algorithm::RS256,
    jwt_claims: true,
};

const RFC7515_A3_ES256: RfcExample = RfcExample {
    name: "RFC 7515 A.3 (ES256)",
    jwk: include_str!("fixtures/rfc7515_a3.jwk.json"),
    jws: include_str!("fixtures/rfc7515_a3.jws"),
    alg: Algorithm::ES256,
    jwt_claims: true,
};

const RFC7515_A4_ES512: RfcExample = RfcExample {
    name: "RFC 7515 A.4 (ES512)",
    jwk: include_str!("fixtures/rfc7515_a4.jwk.json"),
    jws: include_str!("fixtures/rfc7515_a4.jws"),
    alg: Algorithm::ES512,
    jwt_claims: false,
};

const RFC8037_A4_EDDSA: RfcExample = RfcExample {
    name: "RFC 8037 A.4 (EdDSA)",
    jwk: include_str!("fixtures/rfc8037_a4.jwk.json"),
    jws: include_str!("fixtures/rfc8037_a4.jws"),
    alg: Algorithm::EdDSA,
    jwt_claims: false,
};

/// `exp` of the RFC 7515 claims set: 2011-03-22T18:43:00Z.
const RFC7515_EXP: i64 = 1_300_819_380;

/// The default leeway of [`Validator`], in seconds.
const LEEWAY_SECS: i64 = 60;

impl RfcExample {
    /// The compact serialization (the fixture file ends with a newline).
    fn token(&self) -> &'static str {
        self.jws.trim_end()
    }

    fn key(&self) -> VerifyingKey {
        VerifyingKey::from_jwk_json(self.jwk, AlgorithmSet::ALL)
            .unwrap_or_else(|e| panic!("{}: the RFC's JWK is refused: {e}", self.name))
    }

    /// The JWS signing input and the decoded signature.
    fn signing_input_and_signature(&self) -> (&'static [u8], Vec<u8>) {
        let (input, signature) = self.token().rsplit_once('.').unwrap();
        (input.as_bytes(), URL_SAFE_NO_PAD.decode(signature).unwrap())
    }

    /// The token with one bit of the decoded signature flipped, re-encoded.
    fn token_with_flipped_signature_bit(&self, bit: usize) -> String {
        let (input, mut signature) = self.signing_input_and_signature();
        signature[bit / 8] ^= 1 << (bit % 8);
        format!(
            "{}.{}",
            std::str::from_utf8(input).unwrap(),
            URL_SAFE_NO_PAD.encode(&signature)
        )
    }

    fn validator(&self, clock: Option<ManualClock>) -> Validator {
        let builder = Validator::builder()
            .issuer("joe")
            .danger_accept_any_audience()
            .algorithms([self.alg])
            .typ(TypPolicy::DangerIgnore);
        match clock {
            Some(clock) => builder.clock(clock),
            None => builder,
        }
        .build()
        .unwrap()
    }
}

/// The signature verifies; every single-bit flip of the signature or of the signing input is
/// refused as `InvalidSignature`; every other algorithm the key may verify refuses it too.
fn check_rfc_signature(example: &RfcExample) {
    let key = example.key();
    assert!(
        key.algorithms().contains(example.alg),
        "{}: the key is not bound to {}: {key:?}",
        example.name,
        example.alg
    );
    let (input, signature) = example.signing_input_and_signature();
    assert_eq!(
        key.verify(example.alg, input, &signature),
        Ok(()),
        "{}: the RFC's signature does not verify",
        example.name
    );
    for bit in 0..signature.len() * 8 {
        let mut flipped = signature.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            key.verify(example.alg, input, &flipped),
            Err(ErrorKind::InvalidSignature),
            "{}: signature with bit {bit} flipped",
            example.name
        );
    }
    for bit in 0..input.len() * 8 {
        let mut flipped = input.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            key.verify(example.alg, &flipped, &signature),
            Err(ErrorKind::InvalidSignature),
            "{}: signing input with bit {bit} flipped",
            example.name
        );
    }
    // `EdDSA` and `Ed25519` are one signature under two names (RFC 9864): the others must fail.
    let same = |a: Algorithm| {
        a == example.alg
            || AlgorithmSet::ED25519.contains(a) && AlgorithmSet::ED25519.contains(example.alg)
    };
    for other in key.algorithms().iter().filter(|&a| !same(a)) {
        assert_eq!(
            key.verify(other, input, &signature),
            Err(ErrorKind::InvalidSignature),
            "{}: the signature verified under {other}",
            example.name
        );
    }
}

/// The whole token through [`Validator::validate`] with a one-key set (the token has no `kid`:
/// the set's only key that fits the algorithm is chosen).
fn check_rfc_token(example: &RfcExample) {
    let keys = KeySet::new(vec![example.key()]);
    let token = example.token();
    let now = example.validator(None).validate(token, &keys);
    let in_2011 = example
        .validator(Some(ManualClock::at(RFC7515_EXP - 380)))
        .validate(token, &keys);
    if example.jwt_claims {
        assert_eq!(
            now.as_ref().map_err(|e| e.kind()).err(),
            Some(&ErrorKind::Expired),
            "{}: with the system clock",
            example.name
        );
        let claims = in_2011.unwrap_or_else(|e| panic!("{}: refused in 2011: {e}", example.name));
        assert_eq!(claims.issuer(), Some("joe"));
        assert_eq!(claims.expires_at(), Some(1_300_819_380.0));
        assert_eq!(claims.algorithm(), Some(example.alg));
        assert_eq!(claims.key_id(), None);
        assert_eq!(
            claims.get("http://example.com/is_root"),
            Some(serde_json::Value::Bool(true))
        );

        // The leeway boundary: still valid one second before exp + leeway, expired at it.
        let last_valid = ManualClock::at(RFC7515_EXP + LEEWAY_SECS - 1);
        assert!(
            example
                .validator(Some(last_valid))
                .validate(token, &keys)
                .is_ok()
        );
        let first_expired = ManualClock::at(RFC7515_EXP + LEEWAY_SECS);
        assert_eq!(
            example
                .validator(Some(first_expired))
                .validate(token, &keys)
                .unwrap_err()
                .kind(),
            &ErrorKind::Expired
        );
    } else {
        // Not a JWT: the signature verifies, then the payload is refused as not a JSON object.
        for (clock, outcome) in [("system", now), ("2011", in_2011)] {
            assert_eq!(
                outcome.unwrap_err().kind(),
                &ErrorKind::Malformed(MalformedPart::Payload),
                "{} with the {clock} clock",
                example.name
            );
        }
    }

    // A token whose signature has one bit flipped is refused before the payload is looked at.
    let tampered = example.token_with_flipped_signature_bit(9);
    let refused = example
        .validator(Some(ManualClock::at(RFC7515_EXP - 380)))
        .validate(&tampered, &keys)
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::InvalidSignature,
        "{}",
        example.name
    );
}

#[test]
fn rfc7515_a1_hs256_signature_verifies_and_every_bit_flip_is_refused() {
    check_rfc_signature(&RFC7515_A1_HS256);
}

#[test]
fn rfc7515_a1_hs256_token_is_expired_now_and_valid_in_2011() {
    check_rfc_token(&RFC7515_A1_HS256);
}

#[test]
fn rfc7515_a2_rs256_signature_verifies_and_every_bit_flip_is_refused() {
    check_rfc_signature(&RFC7515_A2_RS256);
}

#[test]
fn rfc7515_a2_rs256_token_is_expired_now_and_valid_in_2011() {
    check_rfc_token(&RFC7515_A2_RS256);
}

#[test]
fn rfc7515_a3_es256_signature_verifies_and_every_bit_flip_is_refused() {
    check_rfc_signature(&RFC7515_A3_ES256);
}

#[test]
fn rfc7515_a3_es256_token_is_expired_now_and_valid_in_2011() {
    check_rfc_token(&RFC7515_A3_ES256);
}

#[test]
fn rfc7515_a4_es512_signature_verifies_and_every_bit_flip_is_refused() {
    check_rfc_signature(&RFC7515_A4_ES512);
}

#[test]
fn rfc7515_a4_es512_token_verifies_but_its_text_payload_is_refused() {
    check_rfc_token(&RFC7515_A4_ES512);
}

#[test]
fn rfc8037_a4_ed25519_signature_verifies_and_every_bit_flip_is_refused() {
    check_rfc_signature(&RFC8037_A4_EDDSA);
}

#[test]
fn rfc8037_a4_ed25519_token_verifies_but_its_text_payload_is_refused() {
    check_rfc_token(&RFC8037_A4_EDDSA);
}

// ---------------------------------------------------------------------------------------------
// Wycheproof
// ---------------------------------------------------------------------------------------------

/// Skip class: RSA moduli under 2048 bits, refused by design at key load
/// ([`KeyErrorKind::WeakRsaKey`]).
const SKIP_RSA_UNDER_2048: &str = "RSA modulus under 2048 bits (refused at load by design)";
/// Skip class: HMAC tags shorter than the hash output. JWS HS256/384/512 use the full HMAC
/// output (RFC 7518 section 3.2); each such vector is still asserted to be refused.
const SKIP_TRUNCATED_TAG: &str = "truncated HMAC tag (not JWS; each asserted refused)";
/// Skip class: HMAC keys shorter than the hash output, which RFC 7518 section 3.2 forbids;
/// each such key is asserted to be refused at load with [`KeyErrorKind::WeakSecret`].
const SKIP_SHORT_HMAC_KEY: &str =
    "HMAC key shorter than the hash output (asserted refused at load)";
/// Skip class: RSA-PSS with a hash other than SHA-256/384/512.
const SKIP_PSS_HASH: &str = "PSS hash not SHA-256/384/512 (no JWS algorithm)";
/// Skip class: RSA-PSS whose MGF1 hash differs from the message hash (RFC 7518 section 3.5
/// fixes MGF1 to the same hash). Where the message hash is a JWS one, each such signature is
/// asserted to be refused by the PS* algorithm of that hash.
const SKIP_PSS_MGF: &str =
    "PSS MGF1 hash differs from the message hash (not JWS; each asserted refused)";
/// Skip class: RSA-PSS whose salt length differs from the hash length (RFC 7518 section 3.5
/// fixes the salt length to the hash output size); each such signature is asserted refused.
const SKIP_PSS_SALT: &str =
    "PSS salt length differs from the hash length (not JWS; each asserted refused)";

/// What a Wycheproof "acceptable" vector must do.
#[derive(Clone, Copy, Debug)]
enum AcceptablePolicy {
    /// It must be refused: portcullis takes the strict side.
    MustReject,
}

/// One Wycheproof vector, whatever its test set.
struct Case<'a> {
    tc_id: usize,
    comment: &'a str,
    expected: TestResult,
    msg: &'a [u8],
    sig: &'a [u8],
}

/// The outcome of one test set.
struct Tally {
    set: String,
    /// The algorithm the vectors are verified with (per group for the mixed PSS set).
    alg: Algorithm,
    label: String,
    total: usize,
    acceptable: AcceptablePolicy,
    run: usize,
    passed: usize,
    valid_accepted: usize,
    invalid_rejected: usize,
    invalid_rejected_at_load: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    skipped: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn new(set: String, alg: Algorithm, total: usize) -> Self {
        Tally {
            set,
            alg,
            label: alg.to_string(),
            total,
            acceptable: AcceptablePolicy::MustReject,
            run: 0,
            passed: 0,
            valid_accepted: 0,
            invalid_rejected: 0,
            invalid_rejected_at_load: 0,
            acceptable_accepted: 0,
            acceptable_rejected: 0,
            skipped: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    fn skip(&mut self, class: &'static str, count: usize) {
        *self.skipped.entry(class).or_default() += count;
    }

    fn fail(&mut self, case: &Case<'_>, what: &str) {
        self.failures.push(format!(
            "tcId {} ({:?}, {:?}): {what}",
            case.tc_id, case.expected, case.comment
        ));
    }

    /// Checks one vector against the verdicts of every encoding of its key.
    fn check(&mut self, case: &Case<'_>, outcomes: &[(&str, Result<(), ErrorKind>)]) {
        self.run += 1;
        let first = &outcomes[0].1;
        if let Some((source, other)) = outcomes.iter().find(|(_, o)| o != first) {
            let what = format!(
                "key encodings disagree: {} gives {first:?}, {source} gives {other:?}",
                outcomes[0].0
            );
            self.fail(case, &what);
            return;
        }
        match (case.expected, first) {
            (TestResult::Valid, Ok(())) => self.valid_accepted += 1,
            (TestResult::Invalid, Err(ErrorKind::InvalidSignature)) => self.invalid_rejected += 1,
            (TestResult::Acceptable, Ok(())) => match self.acceptable {
                AcceptablePolicy::MustReject => {
                    self.acceptable_accepted += 1;
                    self.fail(
                        case,
                        "acceptable vector accepted; the policy is to refuse it",
                    );
                    return;
                }
            },
            (TestResult::Acceptable, Err(ErrorKind::InvalidSignature)) => {
                self.acceptable_rejected += 1;
            }
            (_, outcome) => {
                let what = format!("verify gave {outcome:?}");
                self.fail(case, &what);
                return;
            }
        }
        self.passed += 1;
    }

    /// Runs a group of vectors that share a key, given in one or more encodings (DER
    /// SubjectPublicKeyInfo, JWK). `expected_skip` names the skip class of a load error that is
    /// refused by design; any other load error is only allowed when every vector of the group
    /// is invalid.
    fn run_group(
        &mut self,
        keys: Vec<(&'static str, Result<VerifyingKey, KeyError>)>,
        expected_skip: fn(&KeyError) -> Option<&'static str>,
        cases: &[Case<'_>],
    ) {
        let mut loaded = Vec::with_capacity(keys.len());
        let mut refused = None;
        for (source, key) in keys {
            match key {
                Ok(key) => loaded.push((source, key)),
                Err(error) => refused = refused.or(Some((source, error))),
            }
        }
        if let Some((source, error)) = refused {
            if let Some(class) = expected_skip(&error) {
                self.skip(class, cases.len());
                return;
            }
            if cases.iter().all(|c| c.expected == TestResult::Invalid) {
                self.run += cases.len();
                self.passed += cases.len();
                self.invalid_rejected += cases.len();
                self.invalid_rejected_at_load += cases.len();
                return;
            }
            for case in cases {
                self.run += 1;
                let what =
                    format!("the {source} key is refused ({error}) but the vector is not invalid");
                self.fail(case, &what);
            }
            return;
        }
        for case in cases {
            let outcomes: Vec<_> = loaded
                .iter()
                .map(|(source, key)| (*source, key.verify(self.alg, case.msg, case.sig)))
                .collect();
            self.check(case, &outcomes);
        }
    }

    /// Prints the summary and fails the test on any mismatch or any vector not accounted for.
    fn finish(self) {
        let skipped: usize = self.skipped.values().sum();
        let skip_list = if self.skipped.is_empty() {
            "none".to_owned()
        } else {
            self.skipped
                .iter()
                .map(|(class, n)| format!("{n} {class}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        eprintln!(
            "wycheproof {} as {}: {} vectors; run {}, passed {} (valid accepted {}, invalid \
             rejected {} of which {} at key load, acceptable accepted {} / rejected {} under \
             policy {:?}); skipped {}: {}",
            self.set,
            self.label,
            self.total,
            self.run,
            self.passed,
            self.valid_accepted,
            self.invalid_rejected,
            self.invalid_rejected_at_load,
            self.acceptable_accepted,
            self.acceptable_rejected,
            self.acceptable,
            skipped,
            skip_list
        );
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} vectors disagree with Wycheproof:\n{}",
            self.set,
            self.failures.len(),
            self.run,
            self.failures.join("\n")
        );
        assert_eq!(
            self.run + skipped,
            self.total,
            "{}: every vector must be run or skipped",
            self.set
        );
        assert_eq!(self.passed, self.run);
        assert!(self.run > 0, "{}: nothing was run", self.set);
    }
}

fn no_expected_skip(_: &KeyError) -> Option<&'static str> {
    None
}

fn rsa_expected_skip(error: &KeyError) -> Option<&'static str> {
    match error.kind() {
        KeyErrorKind::WeakRsaKey { .. } => Some(SKIP_RSA_UNDER_2048),
        _ => None,
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A big-endian integer without its leading zero bytes (Wycheproof writes integers as signed).
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// An EC coordinate left-padded to the curve's field size, as RFC 7518 section 6.2.1.2 wants.
fn coordinate(bytes: &[u8], len: usize) -> Vec<u8> {
    let bytes = unsigned(bytes);
    let mut out = vec![0; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

fn hash_len(hash: HashFunction) -> Option<usize> {
    match hash {
        HashFunction::Sha2_256 => Some(32),
        HashFunction::Sha2_384 => Some(48),
        HashFunction::Sha2_512 => Some(64),
        _ => None,
    }
}

fn pss_alg(hash: HashFunction) -> Option<Algorithm> {
    match hash {
        HashFunction::Sha2_256 => Some(Algorithm::PS256),
        HashFunction::Sha2_384 => Some(Algorithm::PS384),
        HashFunction::Sha2_512 => Some(Algorithm::PS512),
        _ => None,
    }
}

/// ECDSA in IEEE P1363 form (r || s, fixed length), which is the JWS encoding. The key is
/// loaded from the DER SubjectPublicKeyInfo and, when the set has one, from the JWK.
fn run_ecdsa_p1363(name: wycheproof::ecdsa::TestName, alg: Algorithm, crv: &str, coord: usize) {
    use wycheproof::ecdsa::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new(format!("{name:?}"), alg, set.number_of_tests);
    for group in &set.test_groups {
        let mut keys = vec![(
            "DER",
            VerifyingKey::from_spki_der(&group.der, AlgorithmSet::only(alg)),
        )];
        if let Some(jwk) = &group.jwk {
            let json = format!(
                r#"{{"kty":"EC","crv":"{crv}","x":"{}","y":"{}"}}"#,
                b64(&coordinate(&jwk.affine_x, coord)),
                b64(&coordinate(&jwk.affine_y, coord))
            );
            keys.push((
                "JWK",
                VerifyingKey::from_jwk_json(&json, AlgorithmSet::only(alg)),
            ));
        }
        let cases: Vec<_> = group
            .tests
            .iter()
            .map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                expected: t.result,
                msg: &t.msg,
                sig: &t.sig,
            })
            .collect();
        tally.run_group(keys, no_expected_skip, &cases);
    }
    tally.finish();
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363_verdicts_match() {
    run_ecdsa_p1363(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        Algorithm::ES256,
        "P-256",
        32,
    );
}

#[test]
fn wycheproof_ecdsa_p384_sha384_p1363_verdicts_match() {
    run_ecdsa_p1363(
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
        Algorithm::ES384,
        "P-384",
        48,
    );
}

#[test]
fn wycheproof_ecdsa_p521_sha512_p1363_verdicts_match() {
    run_ecdsa_p1363(
        wycheproof::ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
        Algorithm::ES512,
        "P-521",
        66,
    );
}

#[test]
fn wycheproof_ed25519_verdicts_match() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let alg = Algorithm::EdDSA;
    let mut tally = Tally::new("Ed25519".to_owned(), alg, set.number_of_tests);
    for group in &set.test_groups {
        let json = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
            b64(&group.key.pk)
        );
        let keys = vec![
            (
                "DER",
                VerifyingKey::from_spki_der(&group.der, AlgorithmSet::only(alg)),
            ),
            (
                "JWK",
                VerifyingKey::from_jwk_json(&json, AlgorithmSet::only(alg)),
            ),
        ];
        let cases: Vec<_> = group
            .tests
            .iter()
            .map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                expected: t.result,
                msg: &t.msg,
                sig: &t.sig,
            })
            .collect();
        tally.run_group(keys, no_expected_skip, &cases);
    }
    tally.finish();
}

/// The RSA key of a group as a JWK (`n` and `e` without leading zeros).
fn rsa_jwk(n: &[u8], e: &[u8]) -> String {
    format!(
        r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#,
        b64(unsigned(n)),
        b64(unsigned(e))
    )
}

/// RSASSA-PKCS1-v1_5. The one "acceptable" vector of each set (a DigestInfo without the NULL
/// parameter, `MissingNull`) must be refused.
fn run_rsa_pkcs1(name: wycheproof::rsa_pkcs1_verify::TestName, alg: Algorithm, hash: HashFunction) {
    use wycheproof::rsa_pkcs1_verify::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new(format!("{name:?}"), alg, set.number_of_tests);
    for group in &set.test_groups {
        assert_eq!(group.hash, hash, "{name:?}: unexpected group hash");
        let json = rsa_jwk(&group.key.n, &group.key.e);
        let keys = vec![
            (
                "DER",
                VerifyingKey::from_spki_der(&group.der, AlgorithmSet::only(alg)),
            ),
            (
                "JWK",
                VerifyingKey::from_jwk_json(&json, AlgorithmSet::only(alg)),
            ),
        ];
        let cases: Vec<_> = group
            .tests
            .iter()
            .map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                expected: t.result,
                msg: &t.msg,
                sig: &t.sig,
            })
            .collect();
        tally.run_group(keys, rsa_expected_skip, &cases);
    }
    tally.finish();
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa2048Sha256,
        Algorithm::RS256,
        HashFunction::Sha2_256,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_3072_sha256_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa3072Sha256,
        Algorithm::RS256,
        HashFunction::Sha2_256,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_4096_sha256_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa4096Sha256,
        Algorithm::RS256,
        HashFunction::Sha2_256,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha384_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa2048Sha384,
        Algorithm::RS384,
        HashFunction::Sha2_384,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_3072_sha384_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa3072Sha384,
        Algorithm::RS384,
        HashFunction::Sha2_384,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_4096_sha384_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa4096Sha384,
        Algorithm::RS384,
        HashFunction::Sha2_384,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha512_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa2048Sha512,
        Algorithm::RS512,
        HashFunction::Sha2_512,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_3072_sha512_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa3072Sha512,
        Algorithm::RS512,
        HashFunction::Sha2_512,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_4096_sha512_verdicts_match() {
    use wycheproof::rsa_pkcs1_verify::TestName;
    run_rsa_pkcs1(
        TestName::Rsa4096Sha512,
        Algorithm::RS512,
        HashFunction::Sha2_512,
    );
}

/// RSASSA-PSS. Only groups with MGF1 over the message hash and a salt as long as the hash are
/// JWS PS256/384/512 (RFC 7518 section 3.5); the others are skipped by class, and those with a
/// JWS hash are asserted to be refused (portcullis does not guess the salt length). The keys are
/// plain `rsaEncryption` SubjectPublicKeyInfo (the `_params` sets, whose keys carry
/// `id-RSASSA-PSS` parameters, are not used: portcullis reads JWKs and `rsaEncryption` keys).
fn run_rsa_pss(name: wycheproof::rsa_pss_verify::TestName, expected_alg: Option<Algorithm>) {
    use wycheproof::rsa_pss_verify::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new(
        format!("{name:?}"),
        expected_alg.unwrap_or(Algorithm::PS256),
        set.number_of_tests,
    );
    if expected_alg.is_none() {
        tally.label = "PS256/PS384/PS512".to_owned();
    }
    for group in &set.test_groups {
        let Some(alg) = pss_alg(group.hash) else {
            tally.skip(SKIP_PSS_HASH, group.tests.len());
            continue;
        };
        let class = if group.mgf != wycheproof::Mgf::Mgf1 || group.mgf_hash != Some(group.hash) {
            Some(SKIP_PSS_MGF)
        } else if Some(group.salt_size) != hash_len(group.hash) {
            Some(SKIP_PSS_SALT)
        } else {
            None
        };
        if let Some(class) = class {
            // Valid for their own parameters, but not PS256/384/512 signatures: refused.
            let key = VerifyingKey::from_spki_der(&group.der, AlgorithmSet::only(alg)).unwrap();
            for test in &group.tests {
                let outcome = key.verify(alg, &test.msg, &test.sig);
                if outcome != Err(ErrorKind::InvalidSignature) {
                    tally.run += 1;
                    tally.failures.push(format!(
                        "tcId {}: {alg} accepted a signature with other PSS parameters: \
                         {outcome:?}",
                        test.tc_id
                    ));
                }
            }
            tally.skip(class, group.tests.len());
            continue;
        }
        if let Some(expected) = expected_alg {
            assert_eq!(alg, expected, "{name:?}: unexpected group parameters");
        }
        tally.alg = alg;
        let json = rsa_jwk(&group.key.n, &group.key.e);
        let keys = vec![
            (
                "DER",
                VerifyingKey::from_spki_der(&group.der, AlgorithmSet::only(alg)),
            ),
            (
                "JWK",
                VerifyingKey::from_jwk_json(&json, AlgorithmSet::only(alg)),
            ),
        ];
        let cases: Vec<_> = group
            .tests
            .iter()
            .map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                expected: t.result,
                msg: &t.msg,
                sig: &t.sig,
            })
            .collect();
        tally.run_group(keys, rsa_expected_skip, &cases);
    }
    tally.finish();
}

#[test]
fn wycheproof_rsa_pss_2048_sha256_mgf1_32_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        Some(Algorithm::PS256),
    );
}

#[test]
fn wycheproof_rsa_pss_3072_sha256_mgf1_32_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
        Some(Algorithm::PS256),
    );
}

#[test]
fn wycheproof_rsa_pss_4096_sha256_mgf1_32_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss4096Sha256Mgf1SaltLen32,
        Some(Algorithm::PS256),
    );
}

#[test]
fn wycheproof_rsa_pss_2048_sha384_mgf1_48_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss2048Sha384Mgf1SaltLen48,
        Some(Algorithm::PS384),
    );
}

#[test]
fn wycheproof_rsa_pss_4096_sha384_mgf1_48_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss4096Sha384Mgf1SaltLen48,
        Some(Algorithm::PS384),
    );
}

#[test]
fn wycheproof_rsa_pss_4096_sha512_mgf1_64_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(
        TestName::RsaPss4096Sha512Mgf1SaltLen64,
        Some(Algorithm::PS512),
    );
}

#[test]
fn wycheproof_rsa_pss_misc_groups_with_jws_parameters_verdicts_match() {
    use wycheproof::rsa_pss_verify::TestName;
    run_rsa_pss(TestName::RsaPssmisc, None);
}

/// HMAC. Groups with a truncated tag are skipped (each vector still asserted refused: a
/// truncated tag must never pass as a JWS HMAC); keys shorter than the hash output are skipped
/// (each asserted refused at load with `WeakSecret`).
fn run_hmac(name: wycheproof::mac::TestName, alg: Algorithm, hash_bits: usize) {
    use wycheproof::mac::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new(format!("{name:?}"), alg, set.number_of_tests);
    for group in &set.test_groups {
        let cases: Vec<_> = group
            .tests
            .iter()
            .map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                expected: t.result,
                msg: &t.msg,
                sig: &t.tag,
            })
            .collect();
        if group.key_size < hash_bits {
            for (test, case) in group.tests.iter().zip(&cases) {
                match VerifyingKey::hmac(alg, &test.key) {
                    Err(e) if matches!(e.kind(), KeyErrorKind::WeakSecret { .. }) => {}
                    other => {
                        let what = format!("a short HMAC key gave {other:?}, not WeakSecret");
                        tally.run += 1;
                        tally.fail(case, &what);
                    }
                }
            }
            tally.skip(SKIP_SHORT_HMAC_KEY, group.tests.len());
            continue;
        }
        if group.tag_size != hash_bits {
            for (test, case) in group.tests.iter().zip(&cases) {
                let key = VerifyingKey::hmac(alg, &test.key).unwrap();
                let outcome = key.verify(alg, &test.msg, &test.tag);
                if outcome != Err(ErrorKind::InvalidSignature) {
                    let what = format!("a truncated tag gave {outcome:?}");
                    tally.run += 1;
                    tally.fail(case, &what);
                }
            }
            tally.skip(SKIP_TRUNCATED_TAG, group.tests.len());
            continue;
        }
        for (test, case) in group.tests.iter().zip(&cases) {
            let key = VerifyingKey::hmac(alg, &test.key);
            tally.run_group(
                vec![("secret", key)],
                no_expected_skip,
                std::slice::from_ref(case),
            );
        }
    }
    tally.finish();
}

#[test]
fn wycheproof_hmac_sha256_verdicts_match() {
    run_hmac(wycheproof::mac::TestName::HmacSha256, Algorithm::HS256, 256);
}

#[test]
fn wycheproof_hmac_sha384_verdicts_match() {
    run_hmac(wycheproof::mac::TestName::HmacSha384, Algorithm::HS384, 384);
}

#[test]
fn wycheproof_hmac_sha512_verdicts_match() {
    run_hmac(wycheproof::mac::TestName::HmacSha512, Algorithm::HS512, 512);
}
