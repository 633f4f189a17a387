//! Issuer templates: one trusted issuer for every tenant of a multi-tenant provider.
//!
//! Microsoft Entra ID's multi-tenant discovery documents (`/common/v2.0`, `/organizations/v2.0`)
//! name their issuer `https://login.microsoftonline.com/{tenantid}/v2.0`, with the placeholder
//! written literally; each token's `iss` has its tenant's id there, and its `tid` claim says
//! the same id. An [`IssuerTemplate`] accepts an `iss` that is the template with the
//! placeholder replaced by the token's own `tid`, for an allowed tenant.
//!
//! # Which tenants, by default
//!
//! None: a template must be given its allowed tenants ([`IssuerTemplate::tenants`]), or be
//! told explicitly that every tenant is accepted ([`IssuerTemplate::danger_accept_any_tenant`]).
//! A multi-tenant application registration lets an administrator of *any* tenant consent to
//! it, after which that tenant's users and services obtain tokens whose audience is this API,
//! signed by the provider's one set of keys. Accepting any tenant therefore means accepting
//! anyone who can create a tenant (free, in minutes), which is what an API that serves
//! "every Microsoft customer" wants and what most APIs do not; the check must then be the
//! API's own (a per-tenant subscription table), and the weakening is named so.
//!
//! ```
//! use portcullis_core::IssuerTemplate;
//!
//! let entra = IssuerTemplate::parse("https://login.microsoftonline.com/{tenantid}/v2.0")
//!     .unwrap()
//!     .tenants(["72f988bf-86f1-41af-91ab-2d7cd011db47"]);
//! let iss = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
//! assert_eq!(entra.tenant_of(iss), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
//! assert!(entra.allows("72f988bf-86f1-41af-91ab-2d7cd011db47"));
//! assert!(!entra.allows("00000000-0000-0000-0000-000000000000"));
//! assert_eq!(entra.tenant_of("https://login.microsoftonline.com/a/b/v2.0"), None);
//!
//! // No allowlist and no explicit waiver: a configuration error.
//! let open = IssuerTemplate::parse("https://sts.windows.net/{tenantid}/").unwrap();
//! assert!(open.validated().is_err());
//! ```

use std::fmt;

use crate::error::ConfigError;

/// The placeholder of an issuer template, as Entra ID writes it in its discovery documents.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// A trusted issuer for many tenants (see the [module docs](self)). Cheap enough to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IssuerTemplate {
    text: Box<str>,
    /// Where the placeholder starts in `text`.
    at: usize,
    tenants: Box<[Box<str>]>,
    any_tenant: bool,
}

/// Whether `tenant` can be a tenant id in an issuer URL: unreserved URI characters only
/// (RFC 3986 section 2.3), so never a `/`, `?`, `#` or `%` that would make the `iss` another
/// URL than the template's.
fn is_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl IssuerTemplate {
    /// A template: an `https://` URL (`http://` only for loopback hosts) holding
    /// [`TENANT_PLACEHOLDER`] exactly once, with no allowed tenant yet.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "issuer template" }` for a template
    /// without the placeholder or with it twice, or one that is not an absolute `https` URL.
    pub fn parse(template: &str) -> Result<IssuerTemplate, ConfigError> {
        let invalid =
            |why: &str| ConfigError::invalid("issuer template", format!("{template:?}: {why}"));
        let Some(at) = template.find(TENANT_PLACEHOLDER) else {
            return Err(invalid("no {tenantid} placeholder"));
        };
        if template.matches(TENANT_PLACEHOLDER).count() != 1 {
            return Err(invalid("more than one {tenantid} placeholder"));
        }
        let rest = match template.strip_prefix("https://") {
            Some(rest) => rest,
            None => template
                .strip_prefix("http://")
                .filter(|rest| {
                    let host = rest.split('/').next().unwrap_or_default();
                    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
                })
                .ok_or_else(|| invalid("not an https URL (http is for loopback hosts only)"))?,
        };
        // The placeholder must be in the path, after the host.
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty()
            || authority.contains(TENANT_PLACEHOLDER)
            || rest.len() == authority.len()
        {
            return Err(invalid(
                "the {tenantid} placeholder must be in the path, after a host",
            ));
        }
        if template.contains(['?', '#', ' ']) {
            return Err(invalid("no query, fragment or space"));
        }
        Ok(IssuerTemplate {
            text: template.into(),
            at,
            tenants: Box::default(),
            any_tenant: false,
        })
    }

    /// The tenants accepted (repeatable; adds to the list).
    #[must_use]
    pub fn tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = self.tenants.into_vec();
        list.extend(tenants.into_iter().map(|t| t.into().into_boxed_str()));
        self.tenants = list.into();
        self
    }

    /// Accepts every tenant of the provider: a weakening (see the [module docs](self)), for
    /// an API that serves any of the provider's customers and checks the tenant itself.
    #[must_use]
    pub fn danger_accept_any_tenant(mut self) -> Self {
        self.any_tenant = true;
        self
    }

    /// This template, if it can be trusted as configured: with allowed tenants, each a valid
    /// tenant id, or with [`IssuerTemplate::danger_accept_any_tenant`].
    ///
    /// # Errors
    /// A [`ConfigError`]: `Missing { setting: "tenants" }` without tenants and without the
    /// waiver; `Invalid { setting: "tenants" }` for a tenant id that could not be one.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self.tenants.is_empty() && !self.any_tenant {
            return Err(ConfigError::missing(
                "tenants",
                "name the tenants whose tokens are accepted (any tenant can consent to a \
                 multi-tenant application); danger_accept_any_tenant accepts them all",
            ));
        }
        if let Some(bad) = self.tenants.iter().find(|t| !is_tenant_id(t)) {
            return Err(ConfigError::invalid(
                "tenants",
                format!("{bad:?} is not a tenant id (letters, digits, `-._~`)"),
            ));
        }
        Ok(self)
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The allowed tenants.
    pub fn allowed_tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.iter().map(|t| &**t)
    }

    /// The issuer of `tenant`: the template with the placeholder replaced.
    #[must_use]
    pub fn issuer_of(&self, tenant: &str) -> String {
        self.text.replacen(TENANT_PLACEHOLDER, tenant, 1)
    }

    /// The tenant that `iss` names, if `iss` is this template with the placeholder replaced
    /// by a tenant id (letters, digits, `-._~`).
    #[must_use]
    pub fn tenant_of<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let prefix = self.text.get(..self.at)?;
        let suffix = self.text.get(self.at + TENANT_PLACEHOLDER.len()..)?;
        let tenant = iss.strip_prefix(prefix)?.strip_suffix(suffix)?;
        is_tenant_id(tenant).then_some(tenant)
    }

    /// Whether tokens of `tenant` are accepted.
    #[must_use]
    pub fn allows(&self, tenant: &str) -> bool {
        self.any_tenant || self.tenants.iter().any(|t| **t == *tenant)
    }

    /// Whether every tenant is accepted ([`IssuerTemplate::danger_accept_any_tenant`]).
    #[must_use]
    pub fn accepts_any_tenant(&self) -> bool {
        self.any_tenant
    }
}

impl fmt::Display for IssuerTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for IssuerTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerTemplate")
            .field("template", &self.text)
            .field("tenants", &self.tenants)
            .field("any_tenant", &self.any_tenant)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const V1: &str = "https://sts.windows.net/{tenantid}/";

    #[test]
    fn templates_must_hold_one_placeholder_in_an_https_path() {
        for bad in [
            "https://login.microsoftonline.com/common/v2.0",
            "https://{tenantid}.example/",
            "https://a.example/{tenantid}/{tenantid}",
            "http://login.example/{tenantid}/",
            "https://a.example/{tenantid}?x",
            "login.example/{tenantid}",
        ] {
            assert!(IssuerTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(IssuerTemplate::parse("http://127.0.0.1:8080/{tenantid}/v2.0").is_ok());
        assert!(IssuerTemplate::parse(V1).is_ok());
    }

    #[test]
    fn tenant_of_reads_only_a_tenant_id_in_the_placeholder() {
        let t = IssuerTemplate::parse(V2).unwrap();
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        assert_eq!(t.tenant_of(&t.issuer_of(tid)), Some(tid));
        for other in [
            "https://login.microsoftonline.com//v2.0",
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://login.microsoftonline.com/a%2Fb/v2.0",
            "https://login.microsoftonline.com/a/v2.0/",
            "https://login.microsoftonline.com/a/v1.0",
            "https://evil.example/a/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        ] {
            assert_eq!(t.tenant_of(other), None, "{other}");
        }
        let v1 = IssuerTemplate::parse(V1).unwrap();
        assert_eq!(
            v1.tenant_of(&format!("https://sts.windows.net/{tid}/")),
            Some(tid)
        );
        assert_eq!(
            v1.tenant_of(&format!("https://sts.windows.net/{tid}")),
            None
        );
    }

    #[test]
    fn allowlist_by_default_and_the_waiver_named_danger() {
        let t = IssuerTemplate::parse(V2).unwrap();
        assert!(t.clone().validated().is_err());
        assert!(!t.allows("a"));
        let listed = t.clone().tenants(["a", "b"]).validated().unwrap();
        assert!(listed.allows("b"));
        assert!(!listed.allows("c"));
        assert!(t.clone().tenants(["a/b"]).validated().is_err());
        let any = t.danger_accept_any_tenant().validated().unwrap();
        assert!(any.allows("c"));
        assert_eq!(listed.as_str(), V2);
        assert_eq!(listed.allowed_tenants().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(any.allowed_tenants().count(), 0);
        assert!(any.accepts_any_tenant());
        assert!(!listed.accepts_any_tenant());
    }
}
