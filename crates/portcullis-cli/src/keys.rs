//! `portcullis jwks`: every key of a JWKS document, whether portcullis can use it, and why not.

use std::path::Path;

use base64::Engine as _;
use portcullis_core::{
    Algorithm, AlgorithmSet, Jwk, KeyError, KeyErrorKind, KeySet, SkippedKey, VerifyingKey,
};
use portcullis_jwks::RemoteJwks;
use serde_json::{Value, json};

use crate::cli::JwksArgs;
use crate::error::CliError;
use crate::input;
use crate::output::{Report, Style, print_json};

/// One entry of the document's `keys` array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) index: usize,
    pub(crate) kid: Option<String>,
    pub(crate) kty: Option<String>,
    pub(crate) alg: Option<String>,
    pub(crate) use_: Option<String>,
    /// RSA modulus or `oct` secret size in bits.
    pub(crate) bits: Option<usize>,
    pub(crate) curve: Option<String>,
    pub(crate) thumbprint: Option<String>,
    /// The algorithms portcullis would verify with it; empty when it is skipped.
    pub(crate) algorithms: Vec<Algorithm>,
    /// Why portcullis skips it.
    pub(crate) problem: Option<KeyError>,
}

/// A document listed: its rows and warnings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listing {
    pub(crate) rows: Vec<Row>,
    pub(crate) warnings: Vec<(&'static str, String)>,
}

impl Listing {
    fn usable(&self) -> usize {
        self.rows.iter().filter(|r| r.problem.is_none()).count()
    }
}

/// Runs `portcullis jwks`; `Ok(true)` when at least one key is usable.
///
/// # Errors
/// The document cannot be had (unreadable file, unreachable server) or is not a JWKS.
pub(crate) async fn run(args: &JwksArgs) -> Result<bool, CliError> {
    let (location, body, remote) = match (&args.source, &args.issuer) {
        (_, Some(issuer)) => {
            let doc = RemoteJwks::discover(issuer.as_str())
                .fetch_document()
                .await
                .map_err(|e| fetch_error(issuer, &e))?;
            (doc.url, doc.body, true)
        }
        (Some(source), None) if is_url(source) => {
            let doc = RemoteJwks::builder(source.as_str())
                .fetch_document()
                .await
                .map_err(|e| fetch_error(source, &e))?;
            (doc.url, doc.body, true)
        }
        (Some(source), None) => {
            let body = if source == "-" {
                input::token(Some("-"))?
            } else {
                input::text_file(Path::new(source), "JWKS file")?
            };
            (source.clone(), body, false)
        }
        // clap requires a source or --issuer.
        (None, None) => return Err(CliError::new("give a JWKS URL or file, or --issuer")),
    };
    // A remote JWKS never lends shared secrets (as with the key source); a file may hold them.
    let allowed = if remote {
        AlgorithmSet::ASYMMETRIC
    } else {
        AlgorithmSet::ALL
    };
    let listing = list(&body, allowed).map_err(|e| CliError::new(format!("{location} {e}")))?;
    let printed = if args.json {
        print_json(&to_json(&location, &listing))
    } else {
        report(Style::for_stdout(), &location, &listing).print()
    };
    printed.map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    Ok(listing.usable() > 0)
}

fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn fetch_error(what: &str, error: &portcullis_jwks::SourceError) -> CliError {
    match error.kind() {
        portcullis_jwks::SourceErrorKind::InsecureUrl => CliError::new(format!(
            "cannot fetch the JWKS of {what}: the URL must be https:// (http:// only for \
             loopback hosts)"
        )),
        _ => CliError::caused(format!("cannot fetch the JWKS of {what}"), error),
    }
}

/// Lists a JWKS document, judging each key as a key source with `allowed` would.
///
/// # Errors
/// The document is not a JSON object with a `keys` array, or a key source refuses it as a
/// whole (more keys than the cap); the message follows the document's location.
pub(crate) fn list(body: &str, allowed: AlgorithmSet) -> Result<Listing, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("is not a JWKS: not JSON ({e})"))?;
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Err("is not a JWKS: no `keys` array".to_owned());
    };
    // The same lenient load a key source does: which keys it skips, and why.
    let skipped: Vec<SkippedKey> = match KeySet::from_jwks(body, allowed) {
        Ok(load) => load.skipped,
        Err(e) if e.kind() == &KeyErrorKind::NoUsableKey => Vec::new(),
        Err(e) if matches!(e.kind(), KeyErrorKind::TooManyKeys { .. }) => {
            return Err(format!("is refused by every key source: {e}"));
        }
        Err(e) => return Err(format!("is not a JWKS: {e}")),
    };
    let mut rows = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        rows.push(row(index, entry, allowed, &skipped));
    }
    let warnings = warnings(&rows, entries.is_empty());
    Ok(Listing { rows, warnings })
}

fn bits_of(b64: Option<&str>) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64?)
        .ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    let lead = bytes.get(first)?;
    let rest = bytes.len().saturating_sub(first + 1);
    Some(rest * 8 + (8 - usize::try_from(lead.leading_zeros()).unwrap_or(8)))
}

fn row(index: usize, entry: &Value, allowed: AlgorithmSet, skipped: &[SkippedKey]) -> Row {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    let jwk: Option<Jwk> = serde_json::from_value(entry.clone()).ok();
    let kty = text("kty");
    let bits = match kty.as_deref() {
        Some("RSA") => bits_of(entry.get("n").and_then(Value::as_str)),
        Some("oct") => entry
            .get("k")
            .and_then(Value::as_str)
            .and_then(|k| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(k)
                    .ok()
            })
            .map(|k| k.len().saturating_mul(8)),
        _ => None,
    };
    let loaded = match &jwk {
        Some(jwk) => VerifyingKey::from_jwk(jwk, allowed),
        None => Err(KeyErrorKind::MalformedJwk("not a JWK object").into()),
    };
    // The key source's verdict first (it also skips a repeated kid), else the key's own.
    let problem = skipped
        .iter()
        .find(|s| s.index == index)
        .map(|s| s.error.clone())
        .or_else(|| loaded.as_ref().err().cloned());
    let algorithms = match (&problem, loaded) {
        (None, Ok(key)) => key.algorithms().iter().collect(),
        _ => Vec::new(),
    };
    Row {
        index,
        kid: text("kid"),
        kty,
        alg: text("alg"),
        use_: text("use"),
        bits,
        curve: text("crv"),
        thumbprint: jwk.as_ref().and_then(Jwk::thumbprint_sha256),
        algorithms,
        problem,
    }
}

fn warnings(rows: &[Row], empty: bool) -> Vec<(&'static str, String)> {
    let mut w: Vec<(&'static str, String)> = Vec::new();
    if empty {
        w.push(("no_keys", "the JWKS holds no keys".to_owned()));
    }
    let mut seen: Vec<&str> = Vec::new();
    for row in rows {
        let Some(kid) = row.kid.as_deref() else {
            w.push((
                "missing_kid",
                format!(
                    "key #{} has no kid: only tokens without `kid` can use it, and only while \
                     it is the one key for their algorithm",
                    row.index
                ),
            ));
            continue;
        };
        if seen.contains(&kid) {
            continue;
        }
        seen.push(kid);
        let same: Vec<String> = rows
            .iter()
            .filter(|r| r.kid.as_deref() == Some(kid))
            .map(|r| format!("#{}", r.index))
            .collect();
        if same.len() > 1 {
            w.push((
                "duplicate_kid",
                format!(
                    "kid \"{kid}\" is on keys {}: a token naming it gets the first key that \
                     fits its algorithm",
                    same.join(", ")
                ),
            ));
        }
    }
    for row in rows {
        let i = row.index;
        if row.kty.as_deref() == Some("oct") {
            w.push((
                "symmetric_key",
                format!(
                    "key #{i} is a shared secret (`oct`) in a JWKS: whoever reads the JWKS can \
                     mint tokens; portcullis never takes one from a remote JWKS"
                ),
            ));
        }
        let Some(problem) = &row.problem else {
            continue;
        };
        let (code, message) = match problem.kind() {
            KeyErrorKind::WeakRsaKey { bits } => (
                "weak_rsa",
                format!("key #{i} is RSA {bits} bits: under 2048, refused"),
            ),
            KeyErrorKind::NotForVerification => (
                "encryption_key",
                format!(
                    "key #{i} is for encryption (`use`, `key_ops` or `alg` say so), not for \
                     verifying signatures: skipped"
                ),
            ),
            KeyErrorKind::PrivateKey => (
                "private_key",
                format!(
                    "key #{i} publishes private key material (`d`): replace that key now; \
                     skipped"
                ),
            ),
            KeyErrorKind::DuplicateKid => (
                "duplicate_kid",
                format!("key #{i} repeats the kid and algorithm of an earlier key: skipped"),
            ),
            KeyErrorKind::SymmetricNotAllowed => continue,
            _ => ("unusable_key", format!("key #{i} is unusable: {problem}")),
        };
        w.push((code, message));
    }
    w
}

fn size_or_curve(row: &Row) -> String {
    match (&row.curve, row.bits) {
        (Some(curve), _) => curve.clone(),
        (None, Some(bits)) => format!("{bits} bits"),
        (None, None) => "-".to_owned(),
    }
}

fn status(row: &Row) -> String {
    match &row.problem {
        Some(problem) => format!("skipped: {problem}"),
        None => {
            let algs: Vec<&str> = row.algorithms.iter().map(|a| a.as_str()).collect();
            format!("usable: {}", algs.join(" "))
        }
    }
}

fn report(style: Style, location: &str, listing: &Listing) -> Report {
    let mut r = Report::default();
    let count = listing.rows.len();
    r.line(format!(
        "{}  {location}  ({count} {}, {} usable)",
        style.bold("JWKS"),
        if count == 1 { "key" } else { "keys" },
        listing.usable()
    ));
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let mut table: Vec<[String; 8]> = vec![[
        "#".into(),
        "kid".into(),
        "kty".into(),
        "alg".into(),
        "use".into(),
        "size/curve".into(),
        "thumbprint".into(),
        "status".into(),
    ]];
    for row in &listing.rows {
        table.push([
            row.index.to_string(),
            dash(&row.kid),
            dash(&row.kty),
            dash(&row.alg),
            dash(&row.use_),
            size_or_curve(row),
            dash(&row.thumbprint),
            status(row),
        ]);
    }
    let mut widths = [0usize; 8];
    for line in &table {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (n, line) in table.iter().enumerate() {
        let mut text = String::from(" ");
        for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
            text.push(' ');
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$} "));
            }
        }
        let text = text.trim_end().to_owned();
        r.line(if n == 0 { style.dim(&text) } else { text });
    }
    if listing.warnings.is_empty() {
        r.field(style, "warnings", "none");
    } else {
        r.line(style.bold(&format!("warnings ({})", listing.warnings.len())));
        for (_, message) in &listing.warnings {
            r.line(format!("  {} {message}", style.warn("!")));
        }
    }
    r
}

fn to_json(location: &str, listing: &Listing) -> Value {
    json!({
        "source": location,
        "usable": listing.usable(),
        "keys": listing.rows.iter().map(|row| json!({
            "index": row.index,
            "kid": row.kid,
            "kty": row.kty,
            "alg": row.alg,
            "use": row.use_,
            "bits": row.bits,
            "curve": row.curve,
            "thumbprint": row.thumbprint,
            "usable": row.problem.is_none(),
            "algorithms": row.algorithms.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "problem": row.problem.as_ref().map(ToString::to_string),
        })).collect::<Vec<_>>(),
        "warnings": listing.warnings.iter()
            .map(|(code, message)| json!({ "code": code, "message": message }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_testkit::{TestKey, rsa_1024_public_jwk};

    fn codes(listing: &Listing) -> Vec<&'static str> {
        listing.warnings.iter().map(|(c, _)| *c).collect()
    }

    #[test]
    fn a_healthy_jwks_lists_every_key_without_warnings() {
        let rsa = TestKey::generate(Algorithm::RS256).with_kid("r");
        let ec = TestKey::generate(Algorithm::ES384).with_kid("e");
        let doc = json!({"keys": [rsa.public_jwk(), ec.public_jwk()]}).to_string();
        let listing = list(&doc, AlgorithmSet::ASYMMETRIC).unwrap();
        assert_eq!(codes(&listing), Vec::<&str>::new());
        assert_eq!(listing.rows[0].bits, Some(2048));
        assert_eq!(listing.rows[0].algorithms, [Algorithm::RS256]);
        assert_eq!(listing.rows[1].curve.as_deref(), Some("P-384"));
        let expected = VerifyingKey::from_pem(&ec.public_pem(), AlgorithmSet::ALL).unwrap();
        assert_eq!(listing.rows[1].thumbprint.as_deref(), expected.thumbprint());
    }

    #[test]
    fn each_kind_of_bad_key_is_warned_about() {
        let mut enc = TestKey::generate(Algorithm::RS256).public_jwk();
        enc["use"] = json!("enc");
        enc["kid"] = json!("dup");
        let mut dup = TestKey::generate(Algorithm::ES256).public_jwk();
        dup["kid"] = json!("dup");
        let mut private = TestKey::generate(Algorithm::ES256)
            .with_kid("p")
            .public_jwk();
        private["d"] = json!("AAAA");
        let mut no_kid = TestKey::generate(Algorithm::EdDSA).public_jwk();
        no_kid.as_object_mut().unwrap().remove("kid");
        let secret = TestKey::hmac(Algorithm::HS256, &[1; 32])
            .with_kid("s")
            .public_jwk();
        let doc = json!({"keys": [
            rsa_1024_public_jwk(), enc, dup, private, no_kid, secret, {"kty": "XYZ", "kid": "x"}
        ]})
        .to_string();
        let remote = list(&doc, AlgorithmSet::ASYMMETRIC).unwrap();
        let found = codes(&remote);
        for code in [
            "weak_rsa",
            "encryption_key",
            "duplicate_kid",
            "private_key",
            "missing_kid",
            "symmetric_key",
            "unusable_key",
        ] {
            assert!(found.contains(&code), "{code} missing from {found:?}");
        }
        assert_eq!(remote.usable(), 2); // the ES256 "dup" key and the Ed25519 key
        assert!(
            remote.rows[5].problem.is_some(),
            "no secret from a remote JWKS"
        );
        // From a file, a shared secret is usable (with a warning).
        let file = list(&doc, AlgorithmSet::ALL).unwrap();
        assert_eq!(file.rows[5].algorithms, [Algorithm::HS256]);
        assert_eq!(file.rows[5].bits, Some(256));
        assert_eq!(file.rows[5].thumbprint.as_deref().map(str::len), Some(43));
    }

    #[test]
    fn what_is_not_a_jwks_is_refused() {
        assert!(
            list("<html>", AlgorithmSet::ALL)
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            list("{}", AlgorithmSet::ALL)
                .unwrap_err()
                .contains("`keys`")
        );
        let empty = list(r#"{"keys": []}"#, AlgorithmSet::ALL).unwrap();
        assert_eq!(codes(&empty), ["no_keys"]);
        // When no key is usable, each still says why.
        let weak = json!({"keys": [rsa_1024_public_jwk()]}).to_string();
        let weak = list(&weak, AlgorithmSet::ALL).unwrap();
        assert_eq!(weak.usable(), 0);
        assert_eq!(codes(&weak), ["weak_rsa"]);
    }
}
