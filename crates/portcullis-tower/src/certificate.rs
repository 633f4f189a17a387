//! Where the client certificate of a request comes from: the TLS connection (the default), or
//! a header set by the TLS-terminating proxy in front, only when configured. The whole story,
//! with its deployment caveat, is on [`CertificateSource`].

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use http::{Extensions, HeaderMap, HeaderName};
use portcullis_core::CertificateThumbprint;

/// Where the layer finds the client certificate of a request: the TLS connection (the
/// default), or a header set by the TLS-terminating proxy in front, only when configured
/// with [`BearerAuthLayer::client_certificate_from`](crate::BearerAuthLayer::client_certificate_from).
///
/// A certificate-bound access token (RFC 8705 section 3) carries `cnf.x5t#S256`, the SHA-256
/// of the DER of the client certificate it was issued to; the verifier accepts it only from a
/// request made with that certificate. This says where the layer learns that
/// certificate's [`CertificateThumbprint`]:
///
/// - [`CertificateSource::Connection`] (the default): the thumbprint your TLS acceptor put in
///   the request's extensions. Headers are never read.
/// - a proxy header, one of three forms: RFC 9440 `Client-Cert`
///   ([`CertificateSource::ClientCertHeader`]), nginx's `$ssl_client_escaped_cert` in a
///   header you name ([`CertificateSource::EscapedPemHeader`]), Envoy's
///   `x-forwarded-client-cert` ([`CertificateSource::ForwardedClientCert`]). Then only the
///   header counts: the connection is the proxy's, and a thumbprint in the extensions is
///   ignored.
///
/// A header is read strictly: given twice, an XFCC header with more than one element (more
/// than one proxy hop), bad base64, PEM, percent-encoding or hex, several certificates, bytes
/// that are not one DER `SEQUENCE`: each a [`CertificateError`], which the layer answers
/// `400 invalid_request` ([`InvalidRequest::MalformedCertificate`](crate::InvalidRequest)).
/// What was refused is logged by its kind only, never the header's bytes.
///
/// ```
/// use http::{HeaderMap, HeaderValue, Extensions};
/// use portcullis_tower::{CertificateError, CertificateSource};
///
/// // A (tiny) DER `SEQUENCE`, as RFC 9440 carries it: a byte sequence `:base64:`.
/// let mut headers = HeaderMap::new();
/// headers.insert("client-cert", HeaderValue::from_static(":MAMCAQU=:"));
/// let source = CertificateSource::ClientCertHeader;
/// let thumbprint = source.thumbprint(&headers, &Extensions::new()).unwrap();
/// assert!(thumbprint.is_some());
///
/// // Given twice, the header is ambiguous: refused.
/// headers.append("client-cert", HeaderValue::from_static(":MAMCAQU=:"));
/// assert_eq!(
///     source.thumbprint(&headers, &Extensions::new()),
///     Err(CertificateError::Repeated)
/// );
///
/// // By default only the connection counts: the header is not even read.
/// let default = CertificateSource::default();
/// assert_eq!(default.thumbprint(&headers, &Extensions::new()), Ok(None));
/// ```
///
/// # Deployment caveat
///
/// Configure a header source only behind a proxy that terminates TLS, and that removes or
/// overwrites that header on every request it forwards (nginx: `proxy_set_header`; Envoy:
/// `forward_client_cert_details: SANITIZE_SET`), and make sure no client can reach the
/// service except through it. Otherwise any client can claim any certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateSource {
    /// The TLS connection: a [`CertificateThumbprint`] that the TLS acceptor put into the
    /// request's extensions. No header is read. The default.
    #[default]
    Connection,
    /// The RFC 9440 `Client-Cert` header, set by a TLS-terminating proxy: the DER of the
    /// certificate as a structured-field byte sequence, `:<base64>:`.
    ClientCertHeader,
    /// A header the operator names, holding nginx's `$ssl_client_escaped_cert`: the
    /// certificate as URL-encoded PEM (`proxy_set_header X-Client-Cert
    /// $ssl_client_escaped_cert;`).
    EscapedPemHeader(HeaderName),
    /// Envoy's `x-forwarded-client-cert` (XFCC): one element of `key=value` pairs, of which
    /// `Hash` (the hex SHA-256 of the DER) or `Cert` (URL-encoded PEM) name the certificate;
    /// when both are there they must agree.
    ForwardedClientCert,
}

/// The longest certificate header read, in bytes: a URL-encoded PEM certificate is a few KiB;
/// longer is refused before any parsing.
pub const MAX_CERTIFICATE_HEADER_LEN: usize = 64 * 1024;

const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
const X_FORWARDED_CLIENT_CERT: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

impl CertificateSource {
    /// The thumbprint of the request's client certificate, from this source: `None` when the
    /// request has none (no thumbprint in the extensions, or no such header).
    ///
    /// # Errors
    /// A [`CertificateError`] for a header source whose header is malformed (never for
    /// [`CertificateSource::Connection`]).
    pub fn thumbprint(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<Option<CertificateThumbprint>, CertificateError> {
        let (name, parse): (&HeaderName, fn(&str) -> Result<_, _>) = match self {
            CertificateSource::Connection => {
                return Ok(extensions.get::<CertificateThumbprint>().copied());
            }
            CertificateSource::ClientCertHeader => (&CLIENT_CERT, parse_client_cert),
            CertificateSource::EscapedPemHeader(name) => (name, parse_escaped_pem),
            CertificateSource::ForwardedClientCert => (&X_FORWARDED_CLIENT_CERT, parse_xfcc),
        };
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(CertificateError::Repeated);
        }
        if value.len() > MAX_CERTIFICATE_HEADER_LEN {
            return Err(CertificateError::TooLarge);
        }
        let text = value.to_str().map_err(|_| CertificateError::NotText)?;
        parse(text).map(Some)
    }
}

/// Why a certificate header is malformed. Each names what was wrong, never the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateError {
    /// The header appears more than once.
    Repeated,
    /// An `x-forwarded-client-cert` with more than one element: more than one proxy hop, so
    /// which certificate is the client's is ambiguous.
    SeveralElements,
    /// Longer than [`MAX_CERTIFICATE_HEADER_LEN`].
    TooLarge,
    /// Bytes that are not visible ASCII.
    NotText,
    /// The header's structure: not one byte sequence (`Client-Cert`), or not `key=value`
    /// pairs with well-formed quoting (XFCC), or `Hash` or `Cert` given twice.
    Syntax,
    /// An XFCC element with neither `Hash` nor `Cert`.
    NoCertificate,
    /// A `%` not followed by two hex digits, or percent-decoded bytes that are not ASCII.
    PercentEncoding,
    /// Base64 that is not strict base64 (RFC 4648 section 4).
    Base64,
    /// Not one PEM `CERTIFICATE` block (RFC 7468), or text around it.
    Pem,
    /// More than one certificate in the PEM.
    SeveralCertificates,
    /// An XFCC `Hash` that is not 64 hex digits.
    Hex,
    /// The decoded bytes are not one DER `SEQUENCE`, as every certificate is.
    NotDer,
    /// An XFCC element whose `Hash` is not the digest of its `Cert`.
    HashMismatch,
}

impl CertificateError {
    /// A short stable identifier, as logged.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            CertificateError::Repeated => "repeated",
            CertificateError::SeveralElements => "several_elements",
            CertificateError::TooLarge => "too_large",
            CertificateError::NotText => "not_text",
            CertificateError::Syntax => "syntax",
            CertificateError::NoCertificate => "no_certificate",
            CertificateError::PercentEncoding => "percent_encoding",
            CertificateError::Base64 => "base64",
            CertificateError::Pem => "pem",
            CertificateError::SeveralCertificates => "several_certificates",
            CertificateError::Hex => "hex",
            CertificateError::NotDer => "not_der",
            CertificateError::HashMismatch => "hash_mismatch",
        }
    }
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateError::Repeated => "the header appears more than once",
            CertificateError::SeveralElements => {
                "the forwarded-client-cert header has more than one element (several proxy hops)"
            }
            CertificateError::TooLarge => "the header is too long",
            CertificateError::NotText => "the header is not visible ASCII",
            CertificateError::Syntax => "the header's syntax is invalid",
            CertificateError::NoCertificate => "the forwarded-client-cert has no Hash or Cert",
            CertificateError::PercentEncoding => "the percent-encoding is invalid",
            CertificateError::Base64 => "the base64 is invalid",
            CertificateError::Pem => "not one PEM certificate",
            CertificateError::SeveralCertificates => "more than one certificate",
            CertificateError::Hex => "the hash is not 64 hex digits",
            CertificateError::NotDer => "the certificate is not one DER sequence",
            CertificateError::HashMismatch => "the Hash is not the digest of the Cert",
        })
    }
}

impl std::error::Error for CertificateError {}

/// RFC 9440 section 2.2: `Client-Cert: :<base64 of the DER>:`, an RFC 8941 byte sequence,
/// with nothing after it (no parameters: RFC 9440 defines none). Missing `=` padding is
/// accepted, as RFC 8941 section 4.2.7 asks of parsers.
fn parse_client_cert(text: &str) -> Result<CertificateThumbprint, CertificateError> {
    let inner = text
        .trim_matches(' ')
        .strip_prefix(':')
        .and_then(|rest| rest.strip_suffix(':'))
        .ok_or(CertificateError::Syntax)?;
    if inner.contains(':') {
        return Err(CertificateError::Syntax);
    }
    let der = BASE64_PADDING_OPTIONAL
        .decode(inner)
        .map_err(|_| CertificateError::Base64)?;
    certificate_thumbprint(&der)
}

/// nginx's `$ssl_client_escaped_cert`: PEM, percent-encoded.
fn parse_escaped_pem(text: &str) -> Result<CertificateThumbprint, CertificateError> {
    let pem = percent_decode(text.as_bytes())?;
    certificate_thumbprint(&pem_certificate(&pem)?)
}

/// Envoy's `x-forwarded-client-cert`: exactly one element, `key=value` pairs separated by
/// `;`, values optionally in double quotes (in which `\` escapes the next character). Keys are
/// case-insensitive; `Hash` and `Cert` at most once each; other keys (`By`, `Subject`, `URI`,
/// `DNS`, `Chain`, ...) are skipped.
fn parse_xfcc(text: &str) -> Result<CertificateThumbprint, CertificateError> {
    let mut hash: Option<Cow<'_, str>> = None;
    let mut cert: Option<Cow<'_, str>> = None;
    let mut rest = text;
    loop {
        let (key, value, after) = xfcc_pair(rest)?;
        let slot = if key.eq_ignore_ascii_case("hash") {
            Some(&mut hash)
        } else if key.eq_ignore_ascii_case("cert") {
            Some(&mut cert)
        } else {
            None
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(CertificateError::Syntax);
            }
            *slot = Some(value);
        }
        match after.as_bytes().first() {
            None => break,
            // `;` is one byte: the rest starts after it.
            Some(b';') => rest = after.get(1..).unwrap_or_default(),
            Some(b',') => return Err(CertificateError::SeveralElements),
            Some(_) => return Err(CertificateError::Syntax),
        }
    }

    let from_hash = hash.as_deref().map(parse_hex_sha256).transpose()?;
    let from_cert = match cert.as_deref() {
        Some(cert) => Some(parse_escaped_pem(cert)?),
        None => None,
    };
    match (from_hash, from_cert) {
        (Some(hash), Some(cert)) if hash != cert => Err(CertificateError::HashMismatch),
        (Some(thumbprint), _) | (None, Some(thumbprint)) => Ok(thumbprint),
        (None, None) => Err(CertificateError::NoCertificate),
    }
}

/// One `key=value` pair at the start of `text`: the key, the (unquoted) value, and the text
/// after it, which starts with `;`, `,` or is empty. Spaces around the key and value are
/// skipped.
fn xfcc_pair(text: &str) -> Result<(&str, Cow<'_, str>, &str), CertificateError> {
    let (key, rest) = text.split_once('=').ok_or(CertificateError::Syntax)?;
    let key = key.trim_matches(is_ows);
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(CertificateError::Syntax);
    }
    let rest = rest.trim_start_matches(is_ows);
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => return Err(CertificateError::Syntax),
                },
                '"' => {
                    let after = quoted
                        .get(i + 1..)
                        .ok_or(CertificateError::Syntax)?
                        .trim_start_matches(is_ows);
                    return Ok((key, Cow::Owned(value), after));
                }
                c => value.push(c),
            }
        }
        // No closing quote.
        Err(CertificateError::Syntax)
    } else {
        let end = rest.find([';', ',']).unwrap_or(rest.len());
        let (value, after) = rest.split_at(end);
        let value = value.trim_end_matches(is_ows);
        // A value holding `=` or `"` must be quoted (Envoy's rule).
        if value.contains(['=', '"']) {
            return Err(CertificateError::Syntax);
        }
        Ok((key, Cow::Borrowed(value), after))
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// 64 hex digits (either case) as the 32 bytes of a SHA-256.
fn parse_hex_sha256(hex: &str) -> Result<CertificateThumbprint, CertificateError> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(CertificateError::Hex);
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else {
            return Err(CertificateError::Hex);
        };
        *byte = hex_digit(*hi)? << 4 | hex_digit(*lo)?;
    }
    Ok(CertificateThumbprint(out))
}

fn hex_digit(b: u8) -> Result<u8, CertificateError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(CertificateError::Hex),
    }
}

/// Percent-decoding (RFC 3986 section 2.1) of text that must decode to ASCII. `+` stays `+`
/// (nginx escapes a `+` of the PEM as `%2B`, but one left alone is still base64's `+`).
fn percent_decode(text: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let (Some(&hi), Some(&lo)) = (bytes.next(), bytes.next()) else {
                return Err(CertificateError::PercentEncoding);
            };
            let hi = hex_digit(hi).map_err(|_| CertificateError::PercentEncoding)?;
            let lo = hex_digit(lo).map_err(|_| CertificateError::PercentEncoding)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(b);
        }
    }
    if !out.is_ascii() {
        return Err(CertificateError::PercentEncoding);
    }
    Ok(out)
}

const PEM_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END: &[u8] = b"-----END CERTIFICATE-----";

/// The DER of the one `CERTIFICATE` block that `pem` holds (RFC 7468 section 5), with
/// whitespace allowed around it and between the base64 lines, and nothing else.
fn pem_certificate(pem: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let body = pem
        .trim_ascii()
        .strip_prefix(PEM_BEGIN)
        .ok_or(CertificateError::Pem)?;
    let end = find(body, PEM_END).ok_or(CertificateError::Pem)?;
    let (base64, after) = body.split_at(end);
    let after = after.get(PEM_END.len()..).unwrap_or_default().trim_ascii();
    if find(base64, PEM_BEGIN).is_some() || find(after, PEM_BEGIN).is_some() {
        return Err(CertificateError::SeveralCertificates);
    }
    if !after.is_empty() {
        return Err(CertificateError::Pem);
    }
    let compact: Vec<u8> = base64
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| CertificateError::Base64)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Base64 (standard alphabet) that accepts the `=` padding or its absence, never bad padding
/// or non-zero trailing bits.
const BASE64_PADDING_OPTIONAL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The thumbprint of `der`, once it is seen to be one DER `SEQUENCE` (a certificate is one;
/// its content is not parsed: the digest is compared with the token's, and only the trusted
/// proxy put these bytes here).
fn certificate_thumbprint(der: &[u8]) -> Result<CertificateThumbprint, CertificateError> {
    if !is_one_der_sequence(der) {
        return Err(CertificateError::NotDer);
    }
    Ok(sha256_thumbprint(der))
}

/// SHA-256 of `der` (RFC 8705 section 3.1: `x5t#S256` is over the DER of the certificate).
fn sha256_thumbprint(der: &[u8]) -> CertificateThumbprint {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let mut out = [0u8; 32];
    // A SHA-256 digest is 32 bytes: the zip copies all of them.
    for (o, d) in out.iter_mut().zip(digest.as_ref()) {
        *o = *d;
    }
    CertificateThumbprint(out)
}

/// Whether `der` is exactly one DER `SEQUENCE` (tag `0x30`, a minimal definite length, and
/// that many content bytes, no more).
fn is_one_der_sequence(der: &[u8]) -> bool {
    let Some((&0x30, rest)) = der.split_first() else {
        return false;
    };
    let Some((&first, rest)) = rest.split_first() else {
        return false;
    };
    let (len, content) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        // 0x80 is BER's indefinite length; more than 4 length bytes is no certificate.
        if count == 0 || count > 4 {
            return false;
        }
        let Some((len_bytes, content)) = rest.split_at_checked(count) else {
            return false;
        };
        // Minimal: no leading zero byte, and a long form only for lengths of 128 or more.
        if len_bytes.first() == Some(&0) {
            return false;
        }
        let len = len_bytes
            .iter()
            .fold(0usize, |len, b| len << 8 | usize::from(*b));
        if len < 0x80 {
            return false;
        }
        (len, content)
    };
    content.len() == len
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// A DER `SEQUENCE` with a long-form length, about as long as a small certificate.
    /// 305 bytes: its base64 ends with one `=`.
    fn der() -> Vec<u8> {
        let content: Vec<u8> = (0..301u16).map(|i| (i % 251) as u8).collect();
        let mut der = vec![0x30, 0x82, 0x01, 0x2d];
        der.extend_from_slice(&content);
        der
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn pem(der: &[u8]) -> String {
        let body = b64(der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// Percent-encodes as nginx's `$ssl_client_escaped_cert` does (everything but unreserved).
    fn escape(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    fn hex(thumbprint: &CertificateThumbprint) -> String {
        thumbprint.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn expected() -> CertificateThumbprint {
        sha256_thumbprint(&der())
    }

    const NGINX: HeaderName = HeaderName::from_static("x-ssl-cert");

    fn with(
        source: &CertificateSource,
        headers: &[(&HeaderName, &[u8])],
    ) -> Result<Option<CertificateThumbprint>, CertificateError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append((*name).clone(), HeaderValue::from_bytes(value).unwrap());
        }
        source.thumbprint(&map, &Extensions::new())
    }

    fn one(
        source: &CertificateSource,
        value: &str,
    ) -> Result<CertificateThumbprint, CertificateError> {
        let name = match source {
            CertificateSource::ClientCertHeader => CLIENT_CERT,
            CertificateSource::EscapedPemHeader(name) => name.clone(),
            CertificateSource::ForwardedClientCert => X_FORWARDED_CLIENT_CERT,
            CertificateSource::Connection => unreachable!(),
        };
        with(source, &[(&name, value.as_bytes())]).map(|t| t.unwrap())
    }

    fn client_cert(value: &str) -> Result<CertificateThumbprint, CertificateError> {
        one(&CertificateSource::ClientCertHeader, value)
    }

    fn nginx(value: &str) -> Result<CertificateThumbprint, CertificateError> {
        one(&CertificateSource::EscapedPemHeader(NGINX), value)
    }

    fn xfcc(value: &str) -> Result<CertificateThumbprint, CertificateError> {
        one(&CertificateSource::ForwardedClientCert, value)
    }

    #[test]
    fn the_thumbprint_is_the_sha256_of_the_der() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hex(&sha256_thumbprint(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_connection_source_reads_the_extensions_and_never_the_headers() {
        let mut extensions = Extensions::new();
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_CERT, HeaderValue::from_static("garbage"));
        headers.insert(X_FORWARDED_CLIENT_CERT, HeaderValue::from_static("a,b"));
        let source = CertificateSource::default();
        assert_eq!(source, CertificateSource::Connection);
        assert_eq!(source.thumbprint(&headers, &extensions), Ok(None));
        extensions.insert(CertificateThumbprint([7; 32]));
        assert_eq!(
            source.thumbprint(&headers, &extensions),
            Ok(Some(CertificateThumbprint([7; 32])))
        );
    }

    #[test]
    fn a_header_source_ignores_the_connection() {
        let mut extensions = Extensions::new();
        extensions.insert(CertificateThumbprint([7; 32]));
        let headers = HeaderMap::new();
        for source in [
            CertificateSource::ClientCertHeader,
            CertificateSource::EscapedPemHeader(NGINX),
            CertificateSource::ForwardedClientCert,
        ] {
            assert_eq!(
                source.thumbprint(&headers, &extensions),
                Ok(None),
                "{source:?}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            CLIENT_CERT,
            HeaderValue::from_str(&format!(":{}:", b64(&der()))).unwrap(),
        );
        assert_eq!(
            CertificateSource::ClientCertHeader.thumbprint(&headers, &extensions),
            Ok(Some(expected()))
        );
    }

    #[test]
    fn client_cert_is_one_byte_sequence() {
        let encoded = b64(&der());
        assert_eq!(client_cert(&format!(":{encoded}:")), Ok(expected()));
        assert_eq!(client_cert(&format!("  :{encoded}:  ")), Ok(expected()));
        // RFC 8941: parsers should not fail on missing padding.
        assert!(encoded.ends_with('=') && !encoded.ends_with("=="));
        let unpadded = encoded.trim_end_matches('=');
        assert_eq!(client_cert(&format!(":{unpadded}:")), Ok(expected()));

        for (value, error) in [
            (String::new(), CertificateError::Syntax),
            (encoded.clone(), CertificateError::Syntax),
            (format!(":{encoded}"), CertificateError::Syntax),
            (format!("{encoded}:"), CertificateError::Syntax),
            (format!(":{encoded}:;a=1"), CertificateError::Syntax),
            (
                format!(":{encoded}:, :{encoded}:"),
                CertificateError::Syntax,
            ),
            (format!("\":{encoded}:\""), CertificateError::Syntax),
            (":".to_owned(), CertificateError::Syntax),
            ("::".to_owned(), CertificateError::NotDer),
            (
                format!(":{}:", encoded.replace('+', "-")),
                CertificateError::Base64,
            ),
            (format!(":{}:", &encoded[1..]), CertificateError::Base64),
            (format!(":{encoded}=:"), CertificateError::Base64),
            (
                format!(":{} {}:", &encoded[..8], &encoded[8..]),
                CertificateError::Base64,
            ),
            (
                format!(":{}:", b64(&der()[..200])),
                CertificateError::NotDer,
            ),
            (
                format!(":{}:", b64(b"not a certificate")),
                CertificateError::NotDer,
            ),
        ] {
            assert_eq!(client_cert(&value), Err(error), "{value:?}");
        }
    }

    #[test]
    fn escaped_pem_is_one_certificate() {
        let pem = pem(&der());
        assert_eq!(nginx(&escape(&pem)), Ok(expected()));
        // CRLF lines, no final newline, a `+` left alone: the same certificate.
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(nginx(&escape(crlf.trim_end())), Ok(expected()));
        let plus_kept = escape(&pem).replace("%2B", "+");
        assert_eq!(nginx(&plus_kept), Ok(expected()));

        let other = self::pem(&[0x30, 0x00]);
        for (text, error) in [
            (format!("{pem}{pem}"), CertificateError::SeveralCertificates),
            (
                format!("{pem}{other}"),
                CertificateError::SeveralCertificates,
            ),
            (
                pem.replacen("-----END CERTIFICATE-----\n", "", 1) + &pem,
                CertificateError::SeveralCertificates,
            ),
            (format!("subject=x\n{pem}"), CertificateError::Pem),
            (format!("{pem}trailing"), CertificateError::Pem),
            (
                pem.replace("CERTIFICATE", "PRIVATE KEY"),
                CertificateError::Pem,
            ),
            (
                pem.replace("-----END CERTIFICATE-----\n", ""),
                CertificateError::Pem,
            ),
            (String::new(), CertificateError::Pem),
            (pem.replacen('M', "!", 1), CertificateError::Base64),
            (pem.replacen("\n", "\n=", 2), CertificateError::Base64),
            (
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_owned(),
                CertificateError::NotDer,
            ),
        ] {
            assert_eq!(nginx(&escape(&text)), Err(error), "{text:?}");
        }
        for (value, error) in [
            ("%", CertificateError::PercentEncoding),
            ("%2", CertificateError::PercentEncoding),
            ("%zz", CertificateError::PercentEncoding),
            ("%C3%A9", CertificateError::PercentEncoding),
            ("%FF", CertificateError::PercentEncoding),
        ] {
            assert_eq!(
                nginx(&format!("{}{value}", escape(&pem))),
                Err(error),
                "{value}"
            );
        }
    }

    #[test]
    fn xfcc_names_the_certificate_by_hash_or_cert() {
        let thumbprint = expected();
        let hash = hex(&thumbprint);
        let cert = escape(&pem(&der()));
        let by = "By=spiffe://cluster.local/ns/default/sa/api";
        let subject = r#"Subject="CN=client,O=Example \"Co\"""#;
        let dns = "DNS=a.example;DNS=b.example";
        for value in [
            format!("Hash={hash}"),
            format!("hash={}", hash.to_ascii_uppercase()),
            format!("{by};Hash={hash};{subject};URI=spiffe://x;{dns}"),
            format!("{by};Cert=\"{cert}\";{subject}"),
            format!("{by};Hash={hash};Cert=\"{cert}\";Chain=\"{cert}\";{subject}"),
            format!("Hash=\"{hash}\""),
            format!("Cert={cert}"),
            format!(" By = a ; Hash = {hash} "),
            format!("X-Future-Key=\"a;b,c=d\";Hash={hash}"),
        ] {
            assert_eq!(xfcc(&value), Ok(thumbprint), "{value}");
        }
    }

    #[test]
    fn xfcc_refuses_ambiguity_and_bad_syntax() {
        let hash = hex(&expected());
        let other = hex(&CertificateThumbprint([1; 32]));
        let cert = escape(&pem(&der()));
        for (value, error) in [
            (
                format!("Hash={hash},Hash={hash}"),
                CertificateError::SeveralElements,
            ),
            (
                format!("By=a;Hash={hash},By=b;Hash={other}"),
                CertificateError::SeveralElements,
            ),
            (format!("Hash={hash},"), CertificateError::SeveralElements),
            (format!("Hash={hash};Hash={hash}"), CertificateError::Syntax),
            (format!("Cert={cert};cert={cert}"), CertificateError::Syntax),
            (
                format!("Hash={other};Cert={cert}"),
                CertificateError::HashMismatch,
            ),
            (
                "By=a;Subject=\"CN=x\"".to_owned(),
                CertificateError::NoCertificate,
            ),
            (String::new(), CertificateError::Syntax),
            ("Hash".to_owned(), CertificateError::Syntax),
            (format!("={hash}"), CertificateError::Syntax),
            (format!("Hash={hash};"), CertificateError::Syntax),
            (format!("Ha sh={hash}"), CertificateError::Syntax),
            ("Subject=CN=x;Hash=00".to_owned(), CertificateError::Syntax),
            (format!("Hash=\"{hash}"), CertificateError::Syntax),
            (format!("Hash=\"{hash}\"x"), CertificateError::Syntax),
            (format!("Hash=\"{hash}\\"), CertificateError::Syntax),
            (format!("Hash=a\"{hash}\""), CertificateError::Syntax),
            (format!("Hash={}", &hash[..63]), CertificateError::Hex),
            (format!("Hash={hash}00"), CertificateError::Hex),
            (format!("Hash={}g", &hash[..63]), CertificateError::Hex),
            ("Hash=".to_owned(), CertificateError::Hex),
            ("Cert=\"\"".to_owned(), CertificateError::Pem),
            (
                format!("Cert=\"{cert}{cert}\""),
                CertificateError::SeveralCertificates,
            ),
            (
                format!("Cert=\"{cert}%\""),
                CertificateError::PercentEncoding,
            ),
        ] {
            assert_eq!(xfcc(&value), Err(error), "{value}");
        }
    }

    #[test]
    fn each_header_given_twice_is_refused() {
        let good = format!(":{}:", b64(&der()));
        let hash = format!("Hash={}", hex(&expected()));
        let escaped = escape(&pem(&der()));
        for (source, name, value) in [
            (CertificateSource::ClientCertHeader, CLIENT_CERT, good),
            (CertificateSource::EscapedPemHeader(NGINX), NGINX, escaped),
            (
                CertificateSource::ForwardedClientCert,
                X_FORWARDED_CLIENT_CERT,
                hash,
            ),
        ] {
            let v = value.as_bytes();
            assert!(with(&source, &[(&name, v)]).unwrap().is_some());
            assert_eq!(
                with(&source, &[(&name, v), (&name, v)]),
                Err(CertificateError::Repeated),
                "{source:?}"
            );
        }
    }

    #[test]
    fn hostile_inputs_are_refused_without_a_panic() {
        let sources = [
            CertificateSource::ClientCertHeader,
            CertificateSource::EscapedPemHeader(NGINX),
            CertificateSource::ForwardedClientCert,
        ];
        let names = [CLIENT_CERT, NGINX, X_FORWARDED_CLIENT_CERT];
        let complete = [
            format!(":{}:", b64(&der())),
            // Without the final newline: a prefix that stops right after the END line
            // would still be the whole certificate.
            escape(pem(&der()).trim_end()),
            format!("Cert=\"{}\"", escape(&pem(&der()))),
        ];
        for ((source, name), value) in sources.iter().zip(&names).zip(&complete) {
            assert_eq!(
                with(source, &[(name, value.as_bytes())]),
                Ok(Some(expected()))
            );
            // Every truncation of a complete header is refused.
            for cut in 0..value.len() {
                let truncated = &value.as_bytes()[..cut];
                assert!(
                    with(source, &[(name, truncated)]).is_err(),
                    "{source:?} {cut}"
                );
            }
            // Huge: refused before parsing, whatever it holds.
            let huge = value.repeat(MAX_CERTIFICATE_HEADER_LEN / value.len() + 1);
            assert_eq!(
                with(source, &[(name, huge.as_bytes())]),
                Err(CertificateError::TooLarge)
            );
            let mut just_fits = value.clone().into_bytes();
            just_fits.resize(MAX_CERTIFICATE_HEADER_LEN, b' ');
            assert_ne!(
                with(source, &[(name, &just_fits)]),
                Err(CertificateError::TooLarge)
            );
            // Not ASCII: obs-text bytes the `http` crate lets through.
            let mut non_ascii = value.clone().into_bytes();
            non_ascii.insert(3, 0xe9);
            assert_eq!(
                with(source, &[(name, &non_ascii)]),
                Err(CertificateError::NotText)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_header_bytes_never_panic(value in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()); };
            for (source, name) in [
                (CertificateSource::ClientCertHeader, CLIENT_CERT),
                (CertificateSource::EscapedPemHeader(NGINX), NGINX),
                (CertificateSource::ForwardedClientCert, X_FORWARDED_CLIENT_CERT),
            ] {
                let mut headers = HeaderMap::new();
                headers.insert(name, value.clone());
                let _ = source.thumbprint(&headers, &Extensions::new());
            }
        }

        #[test]
        fn xfcc_shaped_text_never_panics(value in "[A-Za-z=;,\"\\ %0-9-]{0,200}") {
            let _ = parse_xfcc(&value);
            let _ = parse_client_cert(&value);
            let _ = parse_escaped_pem(&value);
        }
    }

    #[test]
    fn der_sequences_are_checked_for_their_exact_length() {
        assert!(is_one_der_sequence(&[0x30, 0x00]));
        assert!(is_one_der_sequence(&[0x30, 0x03, 0x02, 0x01, 0x05]));
        assert!(is_one_der_sequence(&der()));
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert!(is_one_der_sequence(&long));
        for bad in [
            &[][..],
            &[0x30],
            &[0x31, 0x00],
            &[0x30, 0x01],
            &[0x30, 0x00, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x81, 0x05, 1, 2, 3, 4, 5],
            &[0x30, 0x82, 0x00, 0x80],
            &[0x30, 0x85, 1, 0, 0, 0, 0],
            &[0x30, 0x82, 0x01],
        ] {
            assert!(!is_one_der_sequence(bad), "{bad:?}");
        }
        let mut extra = der();
        extra.push(0);
        assert!(!is_one_der_sequence(&extra));
        // 0x80 is the indefinite length, not a short length of 128.
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend([0u8; 0x80]);
        assert!(!is_one_der_sequence(&indefinite));
        // Four length bytes are the most read: 16 MiB of content.
        let mut four = vec![0x30, 0x84, 0x01, 0x00, 0x00, 0x00];
        four.resize(four.len() + (1 << 24), 0);
        assert!(is_one_der_sequence(&four));
    }

    #[test]
    fn each_error_has_its_own_code_and_wording() {
        let all = [
            CertificateError::Repeated,
            CertificateError::SeveralElements,
            CertificateError::TooLarge,
            CertificateError::NotText,
            CertificateError::Syntax,
            CertificateError::NoCertificate,
            CertificateError::PercentEncoding,
            CertificateError::Base64,
            CertificateError::Pem,
            CertificateError::SeveralCertificates,
            CertificateError::Hex,
            CertificateError::NotDer,
            CertificateError::HashMismatch,
        ];
        let codes: std::collections::HashSet<&str> = all.iter().map(|e| e.code()).collect();
        let texts: std::collections::HashSet<String> =
            all.iter().map(ToString::to_string).collect();
        assert_eq!((codes.len(), texts.len()), (all.len(), all.len()));
    }
}
