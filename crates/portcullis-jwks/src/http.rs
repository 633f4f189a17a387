//! The HTTP reading shared by every fetch from an authorization server (key sets and discovery
//! documents here, introspection in `portcullis-introspect`): a body read in chunks and cut
//! off past a cap whatever `Content-Length` says, and one classification of transport
//! failures. Each caller maps these into its own error kinds.

/// What went wrong on the way, as a caller reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The request or the body took longer than its timeout.
    Timeout,
    /// A redirect the client refused to follow.
    Redirect,
    /// No connection could be made.
    Connect,
    /// Anything else on the wire.
    Transport,
}

impl Failure {
    /// The kind of a reqwest error.
    #[must_use]
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Failure::Timeout
        } else if error.is_redirect() {
            Failure::Redirect
        } else if error.is_connect() {
            Failure::Connect
        } else {
            Failure::Transport
        }
    }
}

/// Why a capped body could not be read. (Exhaustive on purpose: the callers, in this
/// workspace only, map every case.)
#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than the cap (announced by `Content-Length`, or as read).
    TooLarge,
    /// The connection failed while reading.
    Read(reqwest::Error),
}

/// The body of `response`, at most `limit` bytes: refused early when `Content-Length` says it
/// is longer, and cut off as soon as what is read exceeds the cap (the length actually read
/// is what is enforced, not the header).
///
/// # Errors
/// [`BodyError::TooLarge`] past the cap, [`BodyError::Read`] when reading fails.
pub async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(BodyError::TooLarge);
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
