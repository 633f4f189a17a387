//! How the resource server authenticates to the introspection endpoint (RFC 7662 section 2.1
//! requires it): the client id, its secret (never printed), and the method.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer};

/// A client secret. Its `Debug` never shows it, and nothing in portcullis logs it; it leaves the
/// process only in the introspection request.
///
/// ```
/// use portcullis_introspect::ClientSecret;
///
/// let secret = ClientSecret::new("s3cr3t");
/// assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
/// assert_eq!(secret.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(Box<str>);

impl ClientSecret {
    /// A secret given as text.
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(secret.into().into_boxed_str())
    }

    /// The secret in the environment variable `var`.
    ///
    /// # Errors
    /// When the variable is unset, empty or not UTF-8 (the message names the variable, never
    /// its value).
    pub fn from_env(var: &str) -> Result<Self, crate::IntrospectError> {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(ClientSecret::new(value)),
            Ok(_) => Err(crate::IntrospectError::config(format!(
                "environment variable {var} (the client secret) is empty"
            ))),
            Err(std::env::VarError::NotPresent) => Err(crate::IntrospectError::config(format!(
                "environment variable {var} (the client secret) is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(crate::IntrospectError::config(format!(
                "environment variable {var} (the client secret) is not UTF-8"
            ))),
        }
    }

    /// The secret itself, to send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl From<String> for ClientSecret {
    fn from(secret: String) -> Self {
        ClientSecret::new(secret)
    }
}

impl From<&str> for ClientSecret {
    fn from(secret: &str) -> Self {
        ClientSecret::new(secret)
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ClientSecret::new)
    }
}

/// How the client id and secret are sent (RFC 6749 section 2.3.1; the names are those of the
/// OAuth `token_endpoint_auth_method` registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// HTTP Basic authentication, `client_id:client_secret` each form-encoded first. The
    /// default: every authorization server must support it.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` as form parameters of the request body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The registry name (`client_secret_basic`, `client_secret_post`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// The method of a registry name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The credentials, prepared once.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) method: AuthMethod,
    /// `client_secret_basic`: the `Authorization` value, marked sensitive.
    basic: Option<HeaderValue>,
    /// `client_secret_post`: `&client_id=...&client_secret=...`, form-encoded.
    form: Option<String>,
}

impl Credentials {
    pub(crate) fn new(
        client_id: String,
        secret: &ClientSecret,
        method: AuthMethod,
    ) -> Result<Self, crate::IntrospectError> {
        let (basic, form) = match method {
            AuthMethod::ClientSecretBasic => {
                let pair = format!(
                    "{}:{}",
                    form_encode(&client_id),
                    form_encode(secret.expose())
                );
                let mut value = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(pair)))
                    .map_err(|_| {
                    crate::IntrospectError::config("unusable client credentials")
                })?;
                // Kept out of HTTP/2 header compression tables and of `Debug` output.
                value.set_sensitive(true);
                (Some(value), None)
            }
            AuthMethod::ClientSecretPost => {
                let form = format!(
                    "&client_id={}&client_secret={}",
                    form_encode(&client_id),
                    form_encode(secret.expose())
                );
                (None, Some(form))
            }
        };
        Ok(Credentials {
            client_id,
            method,
            basic,
            form,
        })
    }

    /// The body of an introspection request for `token`, and the `Authorization` value to
    /// send with it, if any.
    pub(crate) fn request(&self, token: &str) -> (String, Option<&HeaderValue>) {
        let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
        if let Some(form) = &self.form {
            body.push_str(form);
        }
        (body, self.basic.as_ref())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// `application/x-www-form-urlencoded` encoding (the WHATWG URL standard's serializer):
/// ASCII letters, digits and `*-._` as they are, space as `+`, every other byte `%XX`.
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                for nibble in [b >> 4, b & 0x0f] {
                    // A nibble is below 16: always in the table.
                    if let Some(&h) = HEX.get(usize::from(nibble)) {
                        out.push(char::from(h));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_only_the_safe_bytes() {
        assert_eq!(form_encode("aZ09*-._"), "aZ09*-._");
        assert_eq!(form_encode("a b+c/d=e:f%"), "a+b%2Bc%2Fd%3De%3Af%25");
        assert_eq!(form_encode("é"), "%C3%A9");
    }

    #[test]
    fn basic_credentials_are_form_encoded_then_base64() {
        let c = Credentials::new(
            "client:1".into(),
            &ClientSecret::new("s cret"),
            AuthMethod::ClientSecretBasic,
        )
        .unwrap();
        let (body, auth) = c.request("tok+en/=");
        assert_eq!(body, "token=tok%2Ben%2F%3D&token_type_hint=access_token");
        let auth = auth.unwrap();
        assert!(auth.is_sensitive());
        let decoded = STANDARD
            .decode(auth.to_str().unwrap().strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"client%3A1:s+cret");
        assert!(!format!("{c:?}").contains("s cret") && !format!("{c:?}").contains("s+cret"));
    }

    #[test]
    fn post_credentials_go_in_the_body() {
        let c = Credentials::new(
            "c1".into(),
            &ClientSecret::new("p&w"),
            AuthMethod::ClientSecretPost,
        )
        .unwrap();
        let (body, auth) = c.request("t");
        assert!(auth.is_none());
        assert_eq!(
            body,
            "token=t&token_type_hint=access_token&client_id=c1&client_secret=p%26w"
        );
    }
}
