//! `portcullis inspect`: a token decoded without any verification, and what looks wrong in it.

use portcullis_core::Algorithm;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::decode::{self, Object, Payload, Unverified};
use crate::error::CliError;
use crate::input;
use crate::output::{Report, Style, print_json};
use crate::time::{self, describe, human_duration, whole_seconds};

/// Lifetimes (`exp` - `iat`) above this are warned about: access tokens usually live minutes
/// to an hour, and a day is already the long end of common defaults.
const LONG_LIFETIME_SECS: i64 = 24 * 3600;

/// portcullis-core's default token size cap.
const DEFAULT_MAX_TOKEN_LEN: usize = portcullis_core::jws::DEFAULT_MAX_TOKEN_LEN;

/// One thing that looks wrong, with a stable code for scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn warn(warnings: &mut Vec<Warning>, code: &'static str, message: impl Into<String>) {
    warnings.push(Warning {
        code,
        message: message.into(),
    });
}

/// Runs `portcullis inspect`.
///
/// # Errors
/// No token, or input that is not a JWT at all.
pub(crate) fn run(args: &InspectArgs) -> Result<(), CliError> {
    let token = input::token(args.token.as_deref())?;
    let unverified = decode::decode(&token)?;
    let now = args.at.unwrap_or_else(time::now_unix);
    let warnings = warnings(&unverified, now);
    let printed = if args.json {
        print_json(&to_json(&unverified, &warnings))
    } else {
        report(Style::for_stdout(), &unverified, &warnings, now).print()
    };
    printed.map_err(|e| CliError::caused("cannot write to standard output", &e))
}

/// Everything that looks wrong in a token, judged at `now`.
pub(crate) fn warnings(token: &Unverified, now: i64) -> Vec<Warning> {
    let mut w = Vec::new();
    for note in &token.encoding_notes {
        warn(&mut w, "encoding", note.clone());
    }
    if token.token_len > DEFAULT_MAX_TOKEN_LEN {
        warn(
            &mut w,
            "too_large",
            format!(
                "the token is {} bytes: portcullis refuses tokens over {DEFAULT_MAX_TOKEN_LEN} \
                 bytes by default",
                token.token_len
            ),
        );
    }
    header_warnings(&mut w, &token.header);
    match &token.payload {
        Payload::Claims(claims) => claim_warnings(&mut w, claims, now),
        Payload::Other { len, text } => warn(
            &mut w,
            "payload_not_json",
            format!(
                "the payload is not a JSON object ({len} bytes of {}): not a JWT access token",
                if *text { "text" } else { "binary data" }
            ),
        ),
    }
    if token.signature_len == 0 {
        warn(
            &mut w,
            "no_signature",
            "the signature is empty: an unsigned token proves nothing",
        );
    }
    w
}

fn header_warnings(w: &mut Vec<Warning>, header: &Object) {
    for name in header.repeated_names() {
        warn(
            w,
            "duplicate_member",
            format!(
                "the header has `{name}` twice: parsers disagree on which one counts, and \
                 portcullis refuses the token"
            ),
        );
    }
    match header.get("alg") {
        None => warn(
            w,
            "alg_missing",
            "no `alg` in the header: portcullis refuses it",
        ),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => warn(
            w,
            "alg_none",
            format!(
                "`alg` is \"{alg}\": an unsigned token that anyone can write; portcullis never \
                 accepts it"
            ),
        ),
        Some(Value::String(alg)) if Algorithm::from_jose(alg).is_none() => warn(
            w,
            "alg_unsupported",
            format!(
                "`alg` \"{alg}\" is not a signature algorithm portcullis verifies (names are \
                 case-sensitive)"
            ),
        ),
        Some(Value::String(_)) => {}
        Some(other) => warn(
            w,
            "alg_unsupported",
            format!("`alg` is {other}, not a string"),
        ),
    }
    for member in ["jwk", "jku", "x5u", "x5c"] {
        if header.get(member).is_some() {
            warn(
                w,
                "embedded_key",
                format!(
                    "the header carries `{member}`: a verifier that uses it lets the token \
                     choose its own key; portcullis never uses it to find a key"
                ),
            );
        }
    }
    if let Some(crit) = header.get("crit") {
        warn(
            w,
            "crit",
            format!(
                "`crit` is {crit}: portcullis refuses tokens with critical members it does not \
                 understand"
            ),
        );
    }
    if header.get("b64") == Some(&Value::Bool(false)) {
        warn(
            w,
            "unencoded_payload",
            "`b64` is false (RFC 7797 unencoded payload): portcullis refuses it",
        );
    }
    if header.get("kid").is_none() {
        warn(
            w,
            "no_kid",
            "no `kid`: portcullis checks it only when exactly one key fits its algorithm",
        );
    }
    if let Some(typ) = header.get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            t == "at+jwt" || t == "jwt"
        });
        if !ok {
            warn(
                w,
                "typ",
                format!(
                    "`typ` is {typ}, not an access token type (`at+jwt` or `JWT`): portcullis \
                     refuses it unless told to ignore `typ`"
                ),
            );
        }
    }
}

fn claim_time(w: &mut Vec<Warning>, claims: &Object, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    match value.as_f64().and_then(whole_seconds) {
        Some(at) => Some(at),
        None => {
            warn(
                w,
                "time_not_number",
                format!(
                    "`{name}` is {value}, not a number of seconds: portcullis refuses the token"
                ),
            );
            None
        }
    }
}

fn claim_warnings(w: &mut Vec<Warning>, claims: &Object, now: i64) {
    for name in claims.repeated_names() {
        warn(
            w,
            "duplicate_member",
            format!(
                "the claims have `{name}` twice: parsers disagree on which one counts, and \
                 portcullis refuses the token"
            ),
        );
    }
    let exp = claim_time(w, claims, "exp");
    let nbf = claim_time(w, claims, "nbf");
    let iat = claim_time(w, claims, "iat");
    if claims.get("exp").is_none() {
        warn(
            w,
            "no_exp",
            "no `exp`: the token never expires; portcullis refuses tokens without `exp`",
        );
    }
    if let Some(exp) = exp
        && exp <= now
    {
        warn(w, "expired", format!("expired {}", describe(exp, now)));
    }
    if let Some(nbf) = nbf
        && nbf > now
    {
        warn(
            w,
            "not_yet_valid",
            format!("not valid before {}", describe(nbf, now)),
        );
    }
    if let Some(iat) = iat
        && iat > now
    {
        warn(
            w,
            "issued_in_future",
            format!("issued in the future: `iat` is {}", describe(iat, now)),
        );
    }
    if let (Some(exp), Some(start)) = (exp, iat.or(nbf))
        && exp.saturating_sub(start) > LONG_LIFETIME_SECS
    {
        warn(
            w,
            "long_lifetime",
            format!(
                "a lifetime of {}: a leaked token stays usable that long (access tokens \
                 usually live minutes to an hour)",
                human_duration(exp.abs_diff(start))
            ),
        );
    }
    if claims.get("iss").is_none() {
        warn(
            w,
            "no_iss",
            "no `iss`: portcullis refuses it when an issuer is configured",
        );
    }
    if claims.get("aud").is_none() {
        warn(
            w,
            "no_aud",
            "no `aud`: every API trusting this issuer would take it; portcullis refuses it \
             when an audience is configured",
        );
    }
    if claims.get("nonce").is_some() || claims.get("at_hash").is_some() {
        warn(
            w,
            "id_token",
            "it has `nonce` or `at_hash`: this looks like an OpenID Connect ID token, which is \
             not for calling APIs",
        );
    }
    sensitive(w, &claims.members, "");
}

/// What a claim name suggests it holds, if it is something a bearer token should not carry
/// in the clear.
fn sensitive_kind(name: &str) -> Option<&'static str> {
    let norm: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    const SECRET: [&str; 11] = [
        "password",
        "passwd",
        "secret",
        "privatekey",
        "apikey",
        "accesskey",
        "creditcard",
        "cardnumber",
        "cvv",
        "socialsecurity",
        "iban",
    ];
    const PERSONAL: [&str; 9] = [
        "email",
        "phone",
        "address",
        "birthdate",
        "dateofbirth",
        "passport",
        "nationalid",
        "taxid",
        "salary",
    ];
    if SECRET.iter().any(|s| norm.contains(s)) || ["pwd", "pin", "ssn"].contains(&norm.as_str()) {
        Some("a secret")
    } else if PERSONAL.iter().any(|s| norm.contains(s))
        || ["dob", "name", "givenname", "familyname"].contains(&norm.as_str())
    {
        Some("personal data")
    } else {
        None
    }
}

fn sensitive(w: &mut Vec<Warning>, members: &[(String, Value)], prefix: &str) {
    for (name, value) in members {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let holds_something = !matches!(value, Value::Null | Value::Bool(_));
        let text = value.as_str().unwrap_or_default();
        let kind = if text.contains("PRIVATE KEY") {
            Some("a private key")
        } else if looks_like_jwt(text) {
            Some("another token")
        } else if holds_something {
            sensitive_kind(name)
        } else {
            None
        };
        if let Some(kind) = kind {
            warn(
                w,
                "sensitive_claim",
                format!(
                    "`{path}` looks like {kind}: anyone holding the token can read it (a JWS \
                     is signed, not encrypted)"
                ),
            );
        } else if let Value::Object(map) = value {
            let nested: Vec<(String, Value)> =
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            sensitive(w, &nested, &path);
        }
    }
}

fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ") && text.split('.').count() == 3 && text.len() > 40
}

fn times(token: &Unverified) -> (Option<i64>, Option<i64>, Option<i64>) {
    let get = |name: &str| {
        token
            .claims()
            .and_then(|c| c.number(name))
            .and_then(whole_seconds)
    };
    (get("iat"), get("nbf"), get("exp"))
}

fn report(style: Style, token: &Unverified, warnings: &[Warning], now: i64) -> Report {
    let mut r = Report::default();
    r.line(format!(
        "{}  decoded only: nothing below is verified (`portcullis verify` checks it)",
        style.warn("UNVERIFIED")
    ));
    r.line(style.bold("header"));
    r.indented(&token.header.pretty());
    match &token.payload {
        Payload::Claims(claims) => {
            r.line(style.bold("claims"));
            r.indented(&claims.pretty());
        }
        Payload::Other { len, .. } => {
            r.line(format!(
                "{} not a JSON object ({len} bytes)",
                style.bold("payload")
            ));
        }
    }
    let (iat, nbf, exp) = times(token);
    for (label, value) in [("issued", iat), ("not before", nbf), ("expires", exp)] {
        if let Some(at) = value {
            r.field(style, label, describe(at, now));
        }
    }
    if let (Some(exp), Some(start)) = (exp, iat.or(nbf)) {
        r.field(style, "lifetime", human_duration(exp.abs_diff(start)));
    }
    if let Some(scope) = token
        .claims()
        .and_then(|c| c.get("scope").or_else(|| c.get("scp")))
    {
        let shown = match scope {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        r.field(style, "scopes", shown);
    }
    r.field(style, "signature", format!("{} bytes", token.signature_len));
    if warnings.is_empty() {
        r.field(style, "warnings", "none");
    } else {
        r.line(style.bold(&format!("warnings ({})", warnings.len())));
        for warning in warnings {
            r.line(format!("  {} {}", style.warn("!"), warning.message));
        }
    }
    r
}

fn to_json(token: &Unverified, warnings: &[Warning]) -> Value {
    let (iat, nbf, exp) = times(token);
    json!({
        "verified": false,
        "header": token.header.to_value(),
        "claims": token.claims().map(Object::to_value),
        "signature_bytes": token.signature_len,
        "issued_at": iat,
        "not_before": nbf,
        "expires_at": exp,
        "lifetime": exp.zip(iat.or(nbf)).map(|(e, s)| e.saturating_sub(s)),
        "warnings": warnings
            .iter()
            .map(|w| json!({ "code": w.code, "message": w.message }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn token(header: &Value, claims: &Value) -> Unverified {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        decode::decode(&format!("{}.{}.c2ln", b64(header), b64(claims))).unwrap()
    }

    fn codes(w: &[Warning]) -> Vec<&'static str> {
        w.iter().map(|w| w.code).collect()
    }

    #[test]
    fn a_plain_access_token_has_no_warning() {
        let t = token(
            &json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
            &json!({"iss": "i", "aud": "api", "sub": "u", "iat": 1000, "exp": 1300,
                    "scope": "read", "email_verified": true}),
        );
        assert_eq!(codes(&warnings(&t, 1100)), Vec::<&str>::new());
    }

    #[test]
    fn every_risk_is_named() {
        let t = token(
            &json!({"alg": "none", "jku": "https://evil.example/keys", "crit": ["x"], "typ": "dpop+jwt"}),
            &json!({"iat": 1000, "nbf": 1000, "exp": 1000 + 40 * 86_400, "nonce": "n",
                    "password": "hunter2", "profile": {"email": "a@b.c"},
                    "upstream": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}),
        );
        let found = codes(&warnings(&t, 2000));
        for code in [
            "alg_none",
            "embedded_key",
            "crit",
            "no_kid",
            "typ",
            "long_lifetime",
            "no_iss",
            "no_aud",
            "id_token",
            "sensitive_claim",
        ] {
            assert!(found.contains(&code), "{code} missing from {found:?}");
        }
        assert_eq!(found.iter().filter(|c| **c == "sensitive_claim").count(), 3);
        let messages: Vec<String> = warnings(&t, 2000).into_iter().map(|w| w.message).collect();
        assert!(
            messages.iter().any(|m| m.contains("`profile.email`")),
            "{messages:?}"
        );
    }

    #[test]
    fn time_problems_are_judged_at_the_given_time() {
        let t = token(
            &json!({"alg": "ES256", "kid": "k"}),
            &json!({"iss": "i", "aud": "a", "iat": 5000, "nbf": 5000, "exp": 5300}),
        );
        assert_eq!(codes(&warnings(&t, 5100)), Vec::<&str>::new());
        assert_eq!(codes(&warnings(&t, 6000)), ["expired"]);
        assert_eq!(
            codes(&warnings(&t, 4000)),
            ["not_yet_valid", "issued_in_future"]
        );
        let no_exp = token(
            &json!({"alg": "ES256", "kid": "k"}),
            &json!({"iss": "i", "aud": "a", "exp": "tomorrow"}),
        );
        assert_eq!(codes(&warnings(&no_exp, 0)), ["time_not_number"]);
        let missing = token(
            &json!({"alg": "ES256", "kid": "k"}),
            &json!({"iss": "i", "aud": "a"}),
        );
        assert_eq!(codes(&warnings(&missing, 0)), ["no_exp"]);
    }

    #[test]
    fn sensitive_names_are_recognised_loosely() {
        for name in [
            "password",
            "Client_Secret",
            "api-key",
            "creditCardNumber",
            "pin",
            "ssn",
        ] {
            assert_eq!(sensitive_kind(name), Some("a secret"), "{name}");
        }
        for name in ["email", "phone_number", "birthdate", "given_name", "name"] {
            assert_eq!(sensitive_kind(name), Some("personal data"), "{name}");
        }
        for name in ["sub", "scope", "client_id", "tenant", "roles", "spinner"] {
            assert_eq!(sensitive_kind(name), None, "{name}");
        }
    }
}
