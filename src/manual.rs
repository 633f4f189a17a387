//! The security manual: each threat to a resource server that accepts JWT access tokens, how
//! portcullis defends against it, and the tests that prove it.
//!
//! ```
//! use portcullis::jwt::{Algorithm, AlgorithmSet, ErrorKind, KeySet, Validator};
//! use portcullis_testkit::{TestKey, TokenBuilder};
//!
//! let signer = TestKey::generate(Algorithm::ES256).with_kid("k1");
//! let jwks = serde_json::json!({ "keys": [signer.public_jwk()] }).to_string();
//! let keys = KeySet::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap().keys;
//! let validator = Validator::builder()
//!     .issuer("https://issuer.test")
//!     .audience("api")
//!     .build()
//!     .unwrap();
//!
//! // A token the issuer signed is accepted.
//! assert!(validator.validate(&TokenBuilder::new(&signer).sign(), &keys).is_ok());
//! // The same token claiming `alg: none` is not.
//! let none = TokenBuilder::new(&signer).header("alg", "none".into()).sign();
//! let refused = validator.validate(&none, &keys).unwrap_err();
//! assert_eq!(refused.kind(), &ErrorKind::UnsupportedAlgorithm);
//! // Nor is HS256 keyed with the published public key (algorithm confusion).
//! let forger = TestKey::hmac(Algorithm::HS256, signer.public_pem().as_bytes()).with_kid("k1");
//! let refused = validator.validate(&TokenBuilder::new(&forger).sign(), &keys).unwrap_err();
//! assert_eq!(refused.kind(), &ErrorKind::DisallowedAlgorithm(Algorithm::HS256));
//! ```
//!
//! This module holds no code. Its sections follow the path of a token: the algorithm, the
//! header, the serialization, the signature, the keys, the claims, the sizes, the key source,
//! the verified-token cache, and last what portcullis does *not* defend against. Each threat
//! names its tests as `file::test_name`, paths from the repository root. The attack suite
//! `tests/attacks.rs` drives every threat through the real layer over HTTP (an axum API on
//! `127.0.0.1:0` protected by [`Portcullis`](crate::Portcullis), keys from a testkit issuer) and
//! asserts the exact answer, status and `WWW-Authenticate`, and through the core API, asserting
//! the [`ErrorKind`](crate::core::ErrorKind). Its tokens are signed with the issuer's real
//! keys (forgeries with the attacker's own), so that a refusal can only come from the check
//! under test.
//!
//! Unless stated otherwise a refused token is answered `401` with
//! `WWW-Authenticate: Bearer realm="…", error="invalid_token"` and `Cache-Control: no-store`;
//! no answer says which rule failed (`error_description` is opt-in), and no log line or error
//! message contains the token (`crates/portcullis-tower/tests/logs.rs::the_reason_is_logged_on_a_fixed_target_and_the_token_never`,
//! `crates/portcullis-core/tests/validation.rs::error_messages_never_contain_the_token`).
//!
//! # Summary
//!
//! | threat | refused as | attack suite (`tests/attacks.rs`) |
//! |---|---|---|
//! | `alg: none`, any spelling | `UnsupportedAlgorithm` | `alg_none_is_refused_in_every_spelling_signed_or_not` |
//! | HS256 keyed with a public key | `DisallowedAlgorithm`, `KeyAlgorithmMismatch` | `hs256_keyed_with_a_published_public_key_is_refused_in_every_encoding` |
//! | another algorithm of the key's type | `KeyAlgorithmMismatch`, `InvalidSignature` | `a_token_relabelled_with_another_algorithm_of_its_key_type_is_refused` |
//! | `jwk`, `jku`, `x5u`, `x5c` in the header | ignored, never fetched | `keys_and_urls_smuggled_in_the_header_are_never_used_nor_fetched` |
//! | `kid` injection | `UnknownKey` | `kid_injection_is_only_ever_an_exact_lookup_that_fails` |
//! | unknown `crit`, `b64: false` | `UnknownCriticalHeader` | `unknown_crit_members_and_unencoded_payloads_are_refused` |
//! | JWS JSON serialization, JWE | `Malformed(Segments)` (JSON: `400`) | `json_serializations_and_jwe_shaped_tokens_are_refused` |
//! | psychic ECDSA, DER signatures | `InvalidSignature` | `psychic_and_misencoded_ecdsa_signatures_are_refused` |
//! | non-canonical Ed25519 | `InvalidSignature` | `non_canonical_and_degenerate_ed25519_signatures_are_refused` |
//! | truncated or padded RSA signatures | `InvalidSignature` | `truncated_padded_and_out_of_range_rsa_signatures_are_refused` |
//! | weak HMAC secrets | key skipped at load | `weak_hmac_secrets_are_refused_when_the_keys_are_loaded` |
//! | ID token as access token | `WrongAudience`, `WrongType` | `id_tokens_and_other_jwts_presented_as_access_tokens_are_refused` |
//! | audience confusions | `WrongAudience`, `InvalidClaim`, duplicate member | `audience_confusions_are_refused` |
//! | issuer confusions | `WrongIssuer`, `InvalidClaim`, duplicate member | `issuer_confusions_are_refused` |
//! | `exp`/`nbf`/`iat` of the wrong type or range | `InvalidClaim`, `Malformed(Payload)` | `time_claims_of_the_wrong_type_or_range_are_refused` |
//! | oversize tokens, deep nesting | `TooLarge`, `Malformed` | `oversize_tokens_and_deeply_nested_json_are_refused_before_any_work` |
//! | `kid` floods | at most 2 fetches per 30 s | `a_flood_of_unknown_kids_costs_the_issuer_at_most_the_refetch_budget` |
//! | huge JWKS documents | refused, last good keys kept | `huge_jwks_documents_are_refused_and_the_last_good_keys_kept` |
//! | SSRF through discovery | refused at build | `a_discovery_document_cannot_point_the_key_fetch_at_an_internal_or_plain_http_url` |
//! | SSRF through redirects | not followed | `redirects_to_another_host_are_never_followed_for_discovery_or_keys` |
//! | tampering with a cached token | `InvalidSignature` | `a_tampered_token_is_refused_while_its_original_sits_in_the_verified_token_cache`, `a_cached_token_is_refused_once_its_key_leaves_the_key_set` |
//! | replay within the lifetime | **not prevented** (see [Limits](#limits)) | `a_stolen_token_is_accepted_until_it_expires_and_a_sender_constrained_one_is_refused_as_bearer` |
//!
//! Beside the attack suite: property tests (`crates/portcullis-core/tests/properties.rs`,
//! `crates/portcullis-tower/tests/properties.rs`) mutate genuine tokens at random (bit flips,
//! insertions, deletions, segment swaps and splices) and check that none is ever accepted, and
//! feed arbitrary bytes, token-shaped strings, JWKS documents and requests to the parsers,
//! which must never panic; `tests/load_faults.rs` drives 3,000 concurrent requests through the
//! layer while the issuer rotates keys and its JWKS endpoint fails and recovers; fuzz targets
//! (`fuzz/`) cover the token parser, the key parsers, credential extraction and the whole
//! validation.
//!
//! # Algorithms
//!
//! ## `alg: none`
//!
//! **Threat.** An unsecured JWS (RFC 7519 section 6) says `"alg": "none"` and carries no
//! signature; a library that looks the name up case-insensitively, trims it, or treats an
//! unknown name as "nothing to check" accepts any claims.
//!
//! **Defence.** `alg` is matched byte for byte against the names portcullis implements
//! ([`Algorithm::from_jose`](crate::core::Algorithm::from_jose)); `none` is not one of them and
//! cannot be configured. A missing, `null` or non-string `alg` makes the header malformed. An
//! empty signature segment is refused before the header is read.
//!
//! **Proof.** `tests/attacks.rs::alg_none_is_refused_in_every_spelling_signed_or_not` (`none`,
//! `None`, `NONE`, `nOnE`, `"none "`, `" none"`, `"none\0"`, `"NONE\n"`, `""`, the JSON escape
//! `"\u006eone"`, each with the real signature, a junk one and none at all);
//! `crates/portcullis-core/tests/validation.rs::none_and_unknown_algorithms_are_unsupported_in_every_spelling`.
//!
//! ## Algorithm confusion
//!
//! **Threat.** The token says `HS256` and is keyed with the issuer's *public* key, which
//! anyone can fetch; a verifier that takes the algorithm from the header and the key bytes
//! from its store computes the same HMAC. The attacker tries every encoding a server might
//! hold the key in.
//!
//! **Defence.** The allowlist is asymmetric by default (`DisallowedAlgorithm`), and HS* from a
//! remote JWKS needs `danger_allow_symmetric_keys`. Independently, every key is bound when it
//! is loaded to the algorithms its type allows (an RSA key to RS\*/PS\*, or to its JWK `alg`
//! alone), and verification asks the chosen key for the token's algorithm: an RSA or EC key
//! never verifies HS256 (`KeyAlgorithmMismatch`). A token without `kid` is verified only when
//! exactly one key fits its algorithm; none does. The same binding refuses a token relabelled
//! with another algorithm of its key's type (RS256 as PS256, ES256 as ES384).
//!
//! **Proof.** `tests/attacks.rs::hs256_keyed_with_a_published_public_key_is_refused_in_every_encoding`
//! (RSA: PEM as published, without surrounding whitespace, with CRLF line ends, the base64 body
//! alone, SubjectPublicKeyInfo DER, PKCS#1 DER, the JWK as compact and as pretty JSON, the raw
//! modulus and its base64url text; EC: PEM, trimmed PEM, DER, JWK, the raw point and the raw x
//! coordinate; each with its `kid` and without, against the default allowlist and one that
//! allows HS256);
//! `tests/attacks.rs::a_token_relabelled_with_another_algorithm_of_its_key_type_is_refused`;
//! `crates/portcullis-core/tests/validation.rs::hs256_signed_with_the_rsa_public_key_is_refused`;
//! `crates/portcullis-core/tests/keys.rs::each_key_is_bound_to_the_algorithms_its_type_implies`.
//!
//! # The header
//!
//! ## Keys and URLs in the header
//!
//! **Threat.** The token brings its own key (`jwk`, `x5c`) or says where to fetch one (`jku`,
//! `x5u`): a verifier that uses them verifies the attacker's signature with the attacker's key,
//! and fetches attacker-chosen URLs (SSRF).
//!
//! **Defence.** portcullis reads five header members (`alg`, `kid`, `typ`, `crit`, `b64`) and
//! ignores every other; keys come only from the configured key source. Nothing in a token is
//! ever fetched.
//!
//! **Proof.** `tests/attacks.rs::keys_and_urls_smuggled_in_the_header_are_never_used_nor_fetched`
//! (the header URLs point at a live loopback server that counts requests: zero);
//! `crates/portcullis-core/tests/validation.rs::keys_smuggled_in_the_header_are_never_used`.
//!
//! ## `kid` injection
//!
//! **Threat.** `kid` used as a file path, an SQL fragment or a URL by the key lookup; a huge
//! `kid` to exhaust memory; look-alike Unicode or trailing bytes to reach another key.
//!
//! **Defence.** `kid` is a JSON string compared for exact equality (after JSON unescaping, so
//! an escaped spelling of a key's id is that id) with the ids of an in-memory key set; it is
//! never a path, a query or a URL, never logged (only its length), and bounded by the token
//! size cap. An unknown `kid` may trigger one refetch of the *configured* JWKS, within a
//! budget (see [kid floods](#kid-floods)).
//!
//! **Proof.** `tests/attacks.rs::kid_injection_is_only_ever_an_exact_lookup_that_fails`
//! (path traversal, `file:` and `https:` URLs, SQL, NUL and newline suffixes, spaces, case,
//! Cyrillic, emoji, a right-to-left override, the empty string, 4,000 bytes, 9,000 bytes,
//! non-string values); `crates/portcullis-core/tests/validation.rs::key_choice_needs_a_known_kid_or_exactly_one_fitting_key`.
//!
//! ## Unknown `crit` and `b64: false`
//!
//! **Threat.** `crit` lists extensions the recipient must understand or refuse (RFC 7515
//! section 4.1.11); ignoring them accepts tokens whose meaning the issuer changed. `b64: false`
//! (RFC 7797) changes what the signature covers.
//!
//! **Defence.** Any `crit` name refuses the token unless the application declared it
//! understood ([`ValidatorBuilder::understood_critical_header`](crate::core::ValidatorBuilder::understood_critical_header));
//! an empty or non-list `crit` is malformed. `b64: false` is refused, declared critical or not.
//!
//! **Proof.** `tests/attacks.rs::unknown_crit_members_and_unencoded_payloads_are_refused`;
//! `crates/portcullis-core/tests/validation.rs::critical_headers_and_unencoded_payloads_are_refused`.
//!
//! # Serializations
//!
//! **Threat.** A JWS in JSON serialization (RFC 7515 section 7.2), possibly with several
//! signatures of which one is checked and another's payload used; a JWE (five segments) handed
//! to a JWS verifier; a nested JWT; a detached payload.
//!
//! **Defence.** Only the compact serialization: exactly three non-empty segments of strict
//! base64url. A JSON serialization is not even an RFC 6750 `b64token`, so the request is
//! malformed: `400 invalid_request`. A payload that is not a JSON object (a nested token) is
//! malformed.
//!
//! **Proof.** `tests/attacks.rs::json_serializations_and_jwe_shaped_tokens_are_refused`;
//! `crates/portcullis-core/tests/validation.rs::malformed_tokens_name_the_malformed_part`.
//!
//! # Signatures
//!
//! Signatures are checked by aws-lc-rs with keys parsed once at load time, and every
//! fixed-size signature (ECDSA in IEEE P1363 form, Ed25519, HMAC) must have its exact length
//! before any crypto runs.
//!
//! ## "Psychic" ECDSA signatures and DER encodings
//!
//! **Threat.** `r = s = 0` verifies under every key in broken implementations
//! (CVE-2022-21449); `r` or `s` equal to the group order `n` is out of range; a DER
//! `Ecdsa-Sig-Value` where JWS wants `r || s` is misparsed by lenient decoders.
//!
//! **Defence.** aws-lc-rs rejects `r` and `s` outside `[1, n - 1]`; the P1363 length check
//! turns away DER and every other length.
//!
//! **Proof.** `tests/attacks.rs::psychic_and_misencoded_ecdsa_signatures_are_refused` (P-256,
//! P-384, P-521: `r = s = 0`, `r = s = n`, each half zero or `n`, `r = s = 1`, all ones, DER,
//! one byte short, one byte long, `s` alone); the Wycheproof sets
//! `crates/portcullis-core/tests/vectors.rs::wycheproof_ecdsa_p256_sha256_p1363_verdicts_match`,
//! `::wycheproof_ecdsa_p384_sha384_p1363_verdicts_match`,
//! `::wycheproof_ecdsa_p521_sha512_p1363_verdicts_match`.
//!
//! ECDSA signatures are malleable: `(r, n - s)` is a second valid signature of the same
//! token, which the same test shows accepted. That is no forgery (the claims are the issuer's)
//! but it means the bytes of a token do not identify it: use `jti` for that.
//!
//! ## Non-canonical Ed25519
//!
//! **Threat.** `S >= L` (the group order) or a degenerate `R` gives signatures that some
//! implementations accept and others refuse, or that verify for a small-order key.
//!
//! **Defence.** aws-lc-rs refuses non-canonical `S`; public keys come only from the key source.
//!
//! **Proof.** `tests/attacks.rs::non_canonical_and_degenerate_ed25519_signatures_are_refused`
//! (`S + L`, `S = L`, the top bit of `S` set, all zeros, `R` = identity with `S = 0`, wrong
//! lengths); `crates/portcullis-core/tests/vectors.rs::wycheproof_ed25519_verdicts_match`.
//!
//! ## Truncated or padded RSA signatures
//!
//! **Threat.** Signatures shorter or longer than the modulus, with leading zeros added or
//! removed, or `s >= n`, accepted by lenient big-integer conversions.
//!
//! **Defence.** aws-lc-rs requires exactly `k` octets (RFC 8017 section 8.2.2, step 1) and
//! `s < n`; PKCS#1 v1.5 DigestInfo without its NULL parameter is refused too.
//!
//! **Proof.** `tests/attacks.rs::truncated_padded_and_out_of_range_rsa_signatures_are_refused`
//! (RS256 and PS256: first or last byte dropped, a zero byte added in front or behind, twice
//! the signature, zero, one, the modulus, one byte, and a genuine signature whose leading zero
//! byte is left out); the Wycheproof sets
//! `crates/portcullis-core/tests/vectors.rs::wycheproof_rsa_pkcs1_2048_sha256_verdicts_match` and
//! the other `wycheproof_rsa_*` tests.
//!
//! # Keys
//!
//! ## Weak HMAC secrets
//!
//! **Threat.** A short HMAC secret is brute-forced offline from a single token.
//!
//! **Defence.** A secret shorter than the hash output (32, 48, 64 bytes for HS256/384/512,
//! RFC 7518 section 3.2) is refused when the key is built, and skipped when a JWKS holds it.
//! Secrets never come from a remote JWKS without `danger_allow_symmetric_keys`.
//!
//! **Proof.** `tests/attacks.rs::weak_hmac_secrets_are_refused_when_the_keys_are_loaded`
//! (through a deployment that opted into symmetric keys);
//! `crates/portcullis-core/tests/keys.rs::hmac_secrets_must_be_as_long_as_the_hash_and_only_verify_hs`;
//! `crates/portcullis-jwks/tests/remote.rs::symmetric_keys_need_the_danger_option`.
//!
//! ## Weak and invalid public keys
//!
//! RSA moduli under 2048 bits, EC points off their curve, private keys published in a JWKS,
//! encryption keys (`use: enc`, `key_ops` without `verify`) are refused or skipped at load:
//! `crates/portcullis-core/tests/keys.rs::rsa_keys_under_2048_bits_are_refused_in_every_encoding`,
//! `::invalid_points_and_malformed_members_are_refused`,
//! `::encryption_keys_and_keys_without_verify_are_not_for_verification`,
//! `::one_bad_key_in_a_jwks_is_skipped_and_the_rest_load`;
//! `crates/portcullis-jwks/tests/remote.rs::a_malformed_jwk_is_skipped_and_encryption_keys_are_never_used`.
//!
//! # Claims
//!
//! Claims are read by a strict JSON scanner that refuses a member name repeated at any depth
//! (compared after unescaping), so that portcullis and the application's `serde_json` can never
//! read different values from one payload (`crates/portcullis-core/src/claims.rs::tests::duplicates_are_refused_at_every_depth`;
//! the differential property tests in `crates/portcullis-core/src/scan.rs`). A registered claim
//! of the wrong JSON type is a refusal, never a coercion
//! (`crates/portcullis-core/src/claims.rs::tests::registered_claims_are_typed`).
//!
//! ## ID tokens presented as access tokens
//!
//! **Threat.** A client sends its OpenID Connect ID token (or a DPoP proof, a logout token) to
//! an API: same issuer, same keys, a valid signature.
//!
//! **Defence.** An ID token's `aud` is the client id, not the API (`WrongAudience`). Any `typ`
//! other than `at+jwt` or `JWT` (or none) is refused by default; with
//! [`TypPolicy::RequireAccessToken`](crate::core::TypPolicy::RequireAccessToken) (RFC 9068) only
//! `at+jwt` passes, so even an ID token minted for the API's audience is refused
//! (`WrongType`). Use it when your authorization server types its access tokens.
//!
//! **Proof.** `tests/attacks.rs::id_tokens_and_other_jwts_presented_as_access_tokens_are_refused`;
//! `crates/portcullis-core/tests/validation.rs::token_type_follows_the_policy`.
//!
//! ## Audience and issuer confusions
//!
//! **Threat.** A token for another API (`aud`), from another tenant or a look-alike issuer
//! (`iss`): prefixes, trailing slashes, case, look-alike characters, arrays, wrong types, and
//! two members of the same name so that parsers disagree.
//!
//! **Defence.** `iss` must equal a configured issuer byte for byte; `aud` (a string or an
//! array of strings) must hold a configured audience byte for byte; wrong types are
//! `InvalidClaim`; repeated members are malformed. With several issuers, the token's `iss`
//! only chooses whose keys and rules verify it, and is checked again after the signature; an
//! untrusted `iss` costs no network request.
//!
//! **Proof.** `tests/attacks.rs::audience_confusions_are_refused`,
//! `tests/attacks.rs::issuer_confusions_are_refused` (also two trusted issuers whose keys share
//! a `kid`); `crates/portcullis-core/tests/validation.rs::audience_must_contain_a_configured_one`,
//! `::issuer_must_match_exactly`; `crates/portcullis-jwks/tests/discovery.rs::a_token_from_an_untrusted_issuer_costs_no_fetch`;
//! `tests/facade.rs::the_same_configuration_reads_from_serde_with_several_issuers`.
//!
//! ## `exp`, `nbf` and `iat` of the wrong type or range
//!
//! **Threat.** `exp` as a string, a boolean, `null`, an array, `1e300` or a number past
//! `f64`, read by a lenient parser as "no expiry" or as zero.
//!
//! **Defence.** `exp` is required; all three must be JSON numbers within ±year 9999
//! (`InvalidClaim`); numbers that are not JSON (`NaN`, `01`, `1e400`) make the payload
//! malformed. Leeway 60 s, against an injected clock. A long lifetime is the issuer's choice;
//! [`ValidatorBuilder::max_age`](crate::core::ValidatorBuilder::max_age) bounds how long after
//! `iat` a token is accepted anyway.
//!
//! **Proof.** `tests/attacks.rs::time_claims_of_the_wrong_type_or_range_are_refused`;
//! `crates/portcullis-core/tests/validation.rs::exp_is_required_and_numeric`,
//! `::time_rules_follow_the_injected_clock_with_leeway`.
//!
//! # Sizes and floods
//!
//! ## Oversize tokens and headers
//!
//! **Threat.** Megabytes of token, or JSON nested thousands deep, to exhaust memory, CPU or
//! the stack before any signature is checked.
//!
//! **Defence.** Tokens over 8 KiB are refused before they are split or decoded (the cap is
//! [`ValidatorBuilder::max_token_len`](crate::core::ValidatorBuilder::max_token_len)); the JSON
//! scanner stops at 64 levels; decoding makes one allocation for the three segments. The HTTP
//! server itself answers `431` to request headers past its own limit.
//!
//! **Proof.** `tests/attacks.rs::oversize_tokens_and_deeply_nested_json_are_refused_before_any_work`
//! (a genuine token of exactly 8,192 bytes passes, 8,193 is refused; 64 and 128 KiB; nesting
//! of 65 and 2,000 levels in the header and the claims; a 1 MiB `Authorization` header);
//! `crates/portcullis-core/tests/validation.rs::oversize_tokens_are_refused_before_parsing`.
//!
//! ## `kid` floods
//!
//! **Threat.** Every request names a new `kid`, so that each one makes the resource server
//! fetch the JWKS: a denial of service against it and its authorization server.
//!
//! **Defence.** An unknown `kid` may refetch the JWKS at most twice per 30 s (counted from
//! attempts; concurrent callers share one fetch); over the budget it is refused at once, never
//! queued. Known `kid`s never wait.
//!
//! **Proof.** `tests/attacks.rs::a_flood_of_unknown_kids_costs_the_issuer_at_most_the_refetch_budget`;
//! `crates/portcullis-jwks/tests/remote.rs::a_flood_of_unknown_kids_costs_at_most_the_budget_per_window`,
//! `::cold_start_with_a_thousand_concurrent_validations_makes_one_fetch`.
//!
//! ## Huge JWKS documents
//!
//! **Threat.** A compromised or misbehaving endpoint serves a huge document, or thousands of
//! keys, to exhaust memory or the time spent parsing keys.
//!
//! **Defence.** The body is read in chunks and cut off past 1 MiB whatever `Content-Length`
//! says; documents of more than 100 keys are refused before any key is parsed; a refused
//! document never replaces the last good keys.
//!
//! **Proof.** `tests/attacks.rs::huge_jwks_documents_are_refused_and_the_last_good_keys_kept`;
//! `crates/portcullis-jwks/tests/remote.rs::last_good_keys_survive_an_oversize_body`,
//! `::each_fault_is_reported_with_its_kind`.
//!
//! # The key source
//!
//! ## SSRF through discovery or redirects
//!
//! **Threat.** Make the resource server fetch a URL of the attacker's choosing: an internal
//! service, a cloud metadata endpoint, a plain-HTTP endpoint whose answer can be substituted.
//!
//! **Defence.** Nothing a token says is fetched: the issuer and its URLs are configuration,
//! and a token naming an untrusted issuer is refused before any request. URLs are `https://`
//! (`http://` only to a loopback host, for development, unless `danger_allow_http`); other
//! schemes are refused. The discovery document is used only if its `issuer` equals the
//! configured one; the `jwks_uri` it names (and the `introspection_endpoint`, for opaque
//! tokens) passes the same scheme rule and, for an `https://` issuer, must itself be
//! `https://`, so a remote issuer cannot point the resource server at plain-HTTP services on
//! its own loopback interface (nor make it send its introspection credentials there). Redirects are followed only
//! within the same scheme, host and port, at most three; a custom HTTP client's answer from
//! another origin is still refused. A `jwks_uri` on another `https://` host is followed: many
//! authorization servers publish their keys elsewhere, and the document comes from the issuer
//! you configured.
//!
//! **Proof.** `tests/attacks.rs::a_discovery_document_cannot_point_the_key_fetch_at_an_internal_or_plain_http_url`
//! (cloud metadata, private addresses, `gopher:`, `ftp:`, `file:`, relative URLs, another
//! issuer); `tests/attacks.rs::redirects_to_another_host_are_never_followed_for_discovery_or_keys`;
//! `crates/portcullis-jwks/src/remote/fetch.rs::tests::an_https_issuer_cannot_downgrade_its_key_url_to_plain_http`
//! and the example of [`checked_discovered_url`](crate::jwks::checked_discovered_url);
//! `crates/portcullis-jwks/tests/discovery.rs::discovery_with_a_mismatching_issuer_is_refused_before_any_jwks_fetch`;
//! `crates/portcullis-jwks/tests/remote.rs::plain_http_is_refused_for_other_hosts`,
//! `::last_good_keys_survive_a_redirect_to_another_host`.
//!
//! ## Outages and rotation
//!
//! A failed refresh never replaces good keys; they serve for up to 6 h past their lifetime,
//! then requests get `503` with `Retry-After` (not `401`, which would make clients
//! re-authenticate during an outage). `tests/load_faults.rs::thousands_of_concurrent_requests_ride_through_rotations_and_a_jwks_outage`
//! checks under load that no valid request is refused while its key is cached, that every
//! invalid one is, and that the caches stay within their bounds;
//! `crates/portcullis-jwks/tests/remote.rs::last_good_keys_survive_a_500` and its siblings check
//! each fault.
//!
//! # The verified-token cache
//!
//! **Threat.** A cache of verified tokens turns "verified once" into "accepted forever": a
//! tampered copy matched to its cached original, a token kept past its expiry or past the
//! retirement of its key, a scope check skipped on a hit.
//!
//! **Defence.** The key is the whole token, compared byte for byte: a copy that differs
//! anywhere is a miss and is verified in full. A hit counts only while the key set is the one
//! that verified it (any rotation or retirement sends every token through a full
//! verification again) and re-runs the time rules against the clock. The route's scope check
//! runs on every request. The cache is bounded (4,096 entries by default). Custom validator
//! closures run at verification, not on hits: one whose answer changes over time (a
//! revocation list) needs the cache off.
//!
//! **Proof.** `tests/attacks.rs::a_tampered_token_is_refused_while_its_original_sits_in_the_verified_token_cache`,
//! `tests/attacks.rs::a_cached_token_is_refused_once_its_key_leaves_the_key_set`;
//! `crates/portcullis-tower/tests/cache.rs::a_tampered_token_is_refused_even_when_its_original_is_cached`,
//! `::a_cached_token_is_refused_once_it_expires`,
//! `::a_key_removed_from_the_key_set_takes_its_tokens_with_it`,
//! `::the_cache_stays_within_its_bound`;
//! `crates/portcullis-tower/tests/http.rs::a_cached_token_still_goes_through_each_routes_scope_check`.
//!
//! # Limits
//!
//! What portcullis does not defend against, and what to use instead.
//!
//! ## Replay within the token's lifetime
//!
//! A bearer token is good for whoever holds it, as many times as they like, until it expires:
//! portcullis verifies that the token is genuine, not who presents it. A token leaked from a log,
//! a proxy or a compromised client is accepted until `exp`. Keep lifetimes short (minutes),
//! and bound them with [`ValidatorBuilder::max_age`](crate::core::ValidatorBuilder::max_age)
//! if your authorization server issues long ones.
//!
//! Where that is not enough, use sender-constrained tokens, whose holder must prove possession
//! of a key with every request: DPoP (RFC 9449), checked at the application layer, or mutual
//! TLS (RFC 8705), which binds the token to the client certificate. portcullis does not check
//! either proof today. A token bound that way carries a `cnf` claim, and RFC 9449 section 7.2
//! says that a resource server must not accept it as a plain bearer token: portcullis refuses it
//! (`ErrorKind::SenderConstrained`, answered `401 invalid_token`). When a gateway in front of
//! the service has already checked the proof of possession, say so explicitly:
//!
//! ```
//! use portcullis::jwt::Validator;
//!
//! let rules = Validator::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     // Only behind something that verified the DPoP proof or the client certificate.
//!     .danger_accept_sender_constrained_tokens_as_bearer()
//!     .build()?;
//! # Ok::<(), portcullis::jwt::ConfigError>(())
//! ```
//!
//! **Proof** of the limit and of the refusal:
//! `tests/attacks.rs::a_stolen_token_is_accepted_until_it_expires_and_a_sender_constrained_one_is_refused_as_bearer`.
//!
//! ## Revocation
//!
//! A JWT is checked locally: revoking it at the authorization server changes nothing here
//! until it expires. Short lifetimes are the answer; a custom validator that consults a
//! revocation list works only with the verified-token cache off (see above). Opaque tokens
//! checked by introspection (RFC 7662) ask the authorization server instead, at the cost of a
//! call per token (and revocation shows only once a cached verdict expires).
//!
//! ## The token is not an identifier
//!
//! ECDSA signatures are malleable (see above), and nothing stops an issuer from minting two
//! tokens with the same claims: to detect replays yourself, record `jti` (with `iss`), never
//! the token's bytes.
//!
//! ## What the configuration trusts
//!
//! The configured issuer, its discovery document and its keys are trusted: whoever controls
//! them mints tokens portcullis accepts. A weakening is always named `danger_*`
//! (`danger_accept_any_audience`, `danger_accept_any_issuer`, `danger_allow_http`,
//! `danger_allow_symmetric_keys`), and unsafe configurations are refused when built
//! (`tests/facade.rs::unsafe_configurations_are_refused_at_build_time`).
