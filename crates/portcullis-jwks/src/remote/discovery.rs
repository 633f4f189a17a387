//! Finding an issuer's JWKS through its metadata document.
//!
//! OpenID Connect Discovery 1.0 appends `/.well-known/openid-configuration` to the issuer;
//! RFC 8414 inserts `/.well-known/oauth-authorization-server` between the host and the
//! issuer's path. The first is tried first; the second when the first answers a status other
//! than `200`. The document's `issuer` must equal the configured issuer exactly (RFC 8414
//! section 3.3, OpenID Connect Discovery section 4.3), else nothing is fetched from it.

use reqwest::Url;
use serde::Deserialize;

use crate::error::{SourceError, SourceErrorKind};
use crate::remote::fetch::{self, Fetched, Limits};

#[derive(Deserialize)]
pub(crate) struct Metadata {
    issuer: Option<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
}

/// The OpenID Connect discovery URL of an issuer.
pub(crate) fn openid_configuration_url(issuer: &Url) -> Result<Url, SourceError> {
    let mut url = issuer.clone();
    let path = format!(
        "{}/.well-known/openid-configuration",
        issuer.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// The RFC 8414 metadata URL of an issuer (path insertion, section 3.1).
pub(crate) fn oauth_metadata_url(issuer: &Url) -> Result<Url, SourceError> {
    let mut url = issuer.clone();
    let rest = issuer.path().trim_end_matches('/');
    let path = format!("/.well-known/oauth-authorization-server{rest}");
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Resolves the issuer's `jwks_uri`, checked against the scheme rule. The document's
/// `issuer` must be `expected` when given (a multi-tenant document naming a template),
/// else `issuer` itself.
pub(crate) async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    expected: Option<&str>,
    allow_http: bool,
    limits: Limits,
) -> Result<Url, SourceError> {
    let metadata = checked_metadata(client, issuer, expected, allow_http, limits).await?;
    let jwks_uri = metadata
        .jwks_uri
        .ok_or(SourceErrorKind::Discovery("no jwks_uri"))?;
    fetch::parse_discovered_url(&jwks_uri, issuer, allow_http)
}

/// The issuer's metadata document, whose `issuer` equals `expected` (else `issuer`) exactly.
pub(crate) async fn checked_metadata(
    client: &reqwest::Client,
    issuer: &str,
    expected: Option<&str>,
    allow_http: bool,
    limits: Limits,
) -> Result<Metadata, SourceError> {
    let issuer_url = fetch::parse_url(issuer, allow_http)?;
    let first = fetch_metadata(client, &openid_configuration_url(&issuer_url)?, limits).await;
    let metadata = match first {
        Err(e) if matches!(e.kind(), SourceErrorKind::Http { .. }) => {
            tracing::debug!(error = %e, "OpenID configuration unavailable; trying RFC 8414 metadata");
            fetch_metadata(client, &oauth_metadata_url(&issuer_url)?, limits).await?
        }
        other => other?,
    };
    let expected = expected.unwrap_or(issuer);
    if metadata.issuer.as_deref() != Some(expected) {
        tracing::warn!(
            configured = expected,
            "discovery document names another issuer; refusing it"
        );
        return Err(SourceErrorKind::IssuerMismatch.into());
    }
    Ok(metadata)
}

async fn fetch_metadata(
    client: &reqwest::Client,
    url: &Url,
    limits: Limits,
) -> Result<Metadata, SourceError> {
    match fetch::get(client, url, None, limits).await? {
        Fetched::Body { body, .. } => serde_json::from_str(&body).map_err(|e| {
            SourceError::with_cause(SourceErrorKind::Discovery("not a JSON metadata object"), e)
        }),
        // Only sent without validators, so never answered 304 legitimately.
        Fetched::NotModified { .. } => Err(SourceErrorKind::Http { status: 304 }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls() {
        let root = Url::parse("https://h.example").unwrap();
        let tenant = Url::parse("https://h.example/tenant/a/").unwrap();
        assert_eq!(
            openid_configuration_url(&root).unwrap().as_str(),
            "https://h.example/.well-known/openid-configuration"
        );
        assert_eq!(
            openid_configuration_url(&tenant).unwrap().as_str(),
            "https://h.example/tenant/a/.well-known/openid-configuration"
        );
        assert_eq!(
            oauth_metadata_url(&root).unwrap().as_str(),
            "https://h.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            oauth_metadata_url(&Url::parse("https://h.example/tenant").unwrap())
                .unwrap()
                .as_str(),
            "https://h.example/.well-known/oauth-authorization-server/tenant"
        );
    }
}
