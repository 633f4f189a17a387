//! What the test issuer's endpoints can be made to do wrong ([`JwksFault`]), and what they
//! record ([`RecordedRequest`]): shared by the issuer's handle and its HTTP handlers.

use std::time::Duration;

/// A fault injected into the JWKS endpoint ([`TestIssuer::set_fault`](crate::TestIssuer::set_fault)) or the introspection
/// endpoint ([`TestIssuer::set_introspection_fault`](crate::TestIssuer::set_introspection_fault)), each on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksFault {
    /// Answer with this status code and a short text body.
    Status(u16),
    /// Accept the request and never answer, until the issuer is dropped.
    Hang,
    /// Answer normally, after this delay.
    Delay(Duration),
    /// `200` with a body that is not JSON (though labelled `application/json`).
    Garbage,
    /// `200` with the current JSON document padded to exactly this many bytes (with a `padding`
    /// member, so it stays valid JSON). JWKS only.
    Oversize(usize),
    /// `302 Found` with this `Location`.
    RedirectTo(String),
    /// `200` with `{"keys": []}`. JWKS only.
    EmptyKeys,
}

/// One request received by the JWKS endpoint (see [`TestIssuer::jwks_requests`](crate::TestIssuer::jwks_requests)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The request target: path and query.
    pub uri: String,
    /// The headers, names lower-case, values as text.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of a header, if sent.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
