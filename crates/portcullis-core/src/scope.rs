//! Scopes granted by a token and the scopes a route requires.
//!
//! Scopes are whole, case-sensitive tokens: `admin` is not granted by `superadmin`.
//!
//! ```
//! use portcullis_core::{ScopeRequirement, Scopes};
//!
//! let granted = Scopes::from_space_separated("orders.read profile");
//! assert!(ScopeRequirement::any_of(["orders.read", "orders.admin"]).is_satisfied_by(&granted));
//! assert!(!ScopeRequirement::all_of(["orders.read", "orders.write"]).is_satisfied_by(&granted));
//! assert!(!ScopeRequirement::all_of(["orders"]).is_satisfied_by(&granted));
//! ```

use std::fmt;

use serde_json::Value;

use crate::claim_rule::ClaimPath;
use crate::error::ConfigError;

/// Whether `scope` is a valid RFC 6749 `scope-token` (section 3.3):
/// `1*( %x21 / %x23-5B / %x5D-7E )`, so never empty, and no space, `"`, `\\` or control
/// character.
#[must_use]
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The scopes a token grants, kept as one space-separated string.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    joined: Box<str>,
}

impl Scopes {
    /// Scopes from an RFC 6749 / RFC 9068 `scope` value: space-separated tokens.
    /// Runs of spaces are tolerated and collapse.
    #[must_use]
    pub fn from_space_separated(s: &str) -> Self {
        // Already in normal form (the usual case): no leading, trailing or doubled space.
        // One pass over the bytes, cheaper than a substring search for short values.
        let mut previous_space = true;
        let normal = s.bytes().all(|b| {
            let space = b == b' ';
            let ok = !(space && previous_space);
            previous_space = space;
            ok
        }) && !previous_space;
        if normal || s.is_empty() {
            return Scopes { joined: s.into() };
        }
        Scopes {
            joined: s
                .split(' ')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        }
    }

    /// Scopes from a list. Returns `None` when an entry is empty or contains a space,
    /// which would make it ambiguous.
    pub fn from_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut joined = String::new();
        for item in items {
            if item.is_empty() || item.contains(' ') {
                return None;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(item);
        }
        Some(Scopes {
            joined: joined.into(),
        })
    }

    /// Names from a list, skipping the ones that cannot be one whole name (empty, or
    /// holding a space) and repeats: for claims that are not RFC 6749 scopes (roles,
    /// permissions), where one odd entry must not refuse the token, and is never granted.
    pub fn from_names<'a>(items: impl IntoIterator<Item = &'a str>) -> Self {
        let mut joined = String::new();
        for item in items {
            if item.is_empty() || item.contains(' ') {
                continue;
            }
            if !joined.is_empty() && joined.split(' ').any(|s| s == item) {
                continue;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(item);
        }
        Scopes {
            joined: joined.into(),
        }
    }

    /// Whether `scope` is granted (exact, case-sensitive match of a whole scope).
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        // A scope is granted where it starts the string or follows a space and ends it or is
        // followed by one: compared in place, one search for the next space per scope passed
        // over (every route check of every request runs this).
        let needle = scope.as_bytes();
        if needle.is_empty() || needle.contains(&b' ') {
            return false;
        }
        let mut rest = self.joined.as_bytes();
        loop {
            if let Some(after) = rest.strip_prefix(needle)
                && matches!(after.first(), None | Some(b' '))
            {
                return true;
            }
            match rest.iter().position(|b| *b == b' ') {
                Some(space) => rest = rest.get(space + 1..).unwrap_or_default(),
                None => return false,
            }
        }
    }

    /// The granted scopes.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.joined.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether no scope is granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// The scopes as one space-separated string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What a route requires: any one of several alternatives, each a set of scopes that must
/// all be granted.
///
/// [`ScopeRequirement::any_of`] and [`ScopeRequirement::all_of`] cover the usual cases;
/// [`ScopeRequirement::any_of_all`] states alternatives of sets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopeRequirement {
    /// Disjunctive normal form: satisfied when every scope of one alternative is granted.
    alternatives: Box<[Box<[Box<str>]>]>,
}

impl ScopeRequirement {
    /// Satisfied when at least one of the scopes is granted.
    pub fn any_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement {
            alternatives: scopes
                .into_iter()
                .map(|s| vec![s.into().into_boxed_str()].into_boxed_slice())
                .collect(),
        }
    }

    /// Satisfied when every one of the scopes is granted.
    pub fn all_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement {
            alternatives: vec![
                scopes
                    .into_iter()
                    .map(|s| s.into().into_boxed_str())
                    .collect::<Box<[_]>>(),
            ]
            .into_boxed_slice(),
        }
    }

    /// Satisfied when every scope of at least one of the sets is granted.
    pub fn any_of_all<I, J, S>(sets: I) -> Self
    where
        I: IntoIterator<Item = J>,
        J: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement {
            alternatives: sets
                .into_iter()
                .map(|set| set.into_iter().map(|s| s.into().into_boxed_str()).collect())
                .collect(),
        }
    }

    /// Whether the granted scopes satisfy the requirement. A requirement with no
    /// alternatives is never satisfied; an empty alternative always is.
    #[must_use]
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        self.alternatives
            .iter()
            .any(|set| set.iter().all(|needed| granted.contains(needed)))
    }

    /// The alternatives, each a set of scopes that must all be granted.
    pub fn alternatives(&self) -> impl Iterator<Item = impl Iterator<Item = &str>> {
        self.alternatives.iter().map(|set| set.iter().map(|s| &**s))
    }

    /// The value for the RFC 6750 `scope` attribute of a 403 answer: the scopes of the
    /// first alternative when there is one set, or every scope named when there are
    /// alternatives (so that a client can ask for them), space-separated, without repeats.
    #[must_use]
    pub fn to_scope_param(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for set in self.alternatives.iter() {
            for scope in set.iter() {
                if !out.contains(&&**scope) {
                    out.push(scope);
                }
            }
        }
        out.join(" ")
    }
}

impl fmt::Display for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, set) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            f.write_str("[")?;
            for (j, scope) in set.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(scope)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeRequirement({self})")
    }
}

/// A claim that grants scopes (or roles): where a validator reads them when the provider does
/// not put them in `scope` (see [`ValidatorBuilder::scope_sources`](crate::ValidatorBuilder::scope_sources)).
///
/// Each source's claim is read as a space-separated string or as an array of strings; an
/// entry that is not one whole name (empty, holding a space, not a string) is skipped, and a
/// claim of any other JSON type grants nothing: never an error, never a grant.
///
/// ```
/// use portcullis_core::ScopeSource;
///
/// assert_eq!("scp".parse::<ScopeSource>().unwrap(), ScopeSource::Scp);
/// let path: ScopeSource = "realm_access.roles".parse().unwrap();
/// assert_eq!(path.to_string(), "realm_access.roles");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScopeSource {
    /// `scope`: RFC 6749 / RFC 9068, a space-separated string.
    Scope,
    /// `scp`: a string or an array (Microsoft Entra ID's delegated permissions, Okta).
    Scp,
    /// `roles`: RFC 9068 section 2.2.3.1; Entra ID's application permissions.
    Roles,
    /// `permissions`: Auth0's RBAC permissions.
    Permissions,
    /// Any claim, by its path (see [`ClaimPath`]): `realm_access.roles`.
    Claim(ClaimPath),
}

impl ScopeSource {
    /// The path of the claim this source reads.
    #[must_use]
    pub fn path(&self) -> ClaimPath {
        let name = match self {
            ScopeSource::Scope => "scope",
            ScopeSource::Scp => "scp",
            ScopeSource::Roles => "roles",
            ScopeSource::Permissions => "permissions",
            ScopeSource::Claim(path) => return path.clone(),
        };
        ClaimPath::plain(name)
    }

    /// The names this source grants in `payload`, each pushed to `out` after `prefix` is
    /// taken off; with a prefix, a name without it is not granted at all.
    pub(crate) fn read_into<'v>(
        &self,
        payload: &'v Value,
        prefix: Option<&str>,
        out: &mut Vec<&'v str>,
    ) {
        let mut push = |name: &'v str| {
            let name = match prefix {
                Some(prefix) => match name.strip_prefix(prefix) {
                    Some(rest) if !rest.is_empty() => rest,
                    _ => return,
                },
                None => name,
            };
            if !name.is_empty() && !name.contains(' ') && !out.contains(&name) {
                out.push(name);
            }
        };
        let at = match self {
            ScopeSource::Claim(path) => path.find(payload),
            _ => self.path().find(payload),
        };
        match at {
            Some(Value::String(s)) => s.split(' ').for_each(&mut push),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(push),
            _ => {}
        }
    }
}

impl std::str::FromStr for ScopeSource {
    type Err = ConfigError;

    /// `scope`, `scp`, `roles`, `permissions`, or any other claim path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "scope" => ScopeSource::Scope,
            "scp" => ScopeSource::Scp,
            "roles" => ScopeSource::Roles,
            "permissions" => ScopeSource::Permissions,
            other => ScopeSource::Claim(ClaimPath::parse(other)?),
        })
    }
}

impl fmt::Display for ScopeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.path(), f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ScopeSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From the names of [`FromStr`](std::str::FromStr): `scope`, `scp`, `roles`,
/// `permissions`, or a claim path.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ScopeSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The names granted by `sources` in `payload`, merged, with `prefix` taken off.
pub(crate) fn read_sources(
    sources: &[ScopeSource],
    prefix: Option<&str>,
    payload: &Value,
) -> Scopes {
    let mut names = Vec::new();
    for source in sources {
        source.read_into(payload, prefix, &mut names);
    }
    Scopes::from_names(names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_granted_once_and_only_whole() {
        use super::{ScopeSource, Scopes, read_sources};
        assert_eq!(
            Scopes::from_names(["a", "b", "a", "", "c d", "b"]).as_str(),
            "a b"
        );
        let payload = serde_json::json!({
            "scope": "notes/read  notes/ notes/read billing/read notes/write",
            "permissions": ["notes/write", "notes/admin", 7, "with space"],
            "realm_access": {"roles": ["ops", "ops", ""]},
        });
        let sources = [ScopeSource::Scope, ScopeSource::Permissions];
        assert_eq!(
            read_sources(&sources, Some("notes/"), &payload).as_str(),
            "read write admin"
        );
        let roles: ScopeSource = "realm_access.roles".parse().unwrap();
        assert_eq!(read_sources(&[roles], None, &payload).as_str(), "ops");
        assert_eq!(
            read_sources(&[ScopeSource::Permissions], None, &payload).as_str(),
            "notes/write notes/admin"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn sources_are_written_and_read_by_their_names() {
        use super::ScopeSource;
        for (source, text) in [
            (ScopeSource::Scp, "\"scp\""),
            (ScopeSource::Permissions, "\"permissions\""),
            (
                "realm_access.roles".parse().unwrap(),
                "\"realm_access.roles\"",
            ),
        ] {
            assert_eq!(serde_json::to_string(&source).unwrap(), text);
            assert_eq!(serde_json::from_str::<ScopeSource>(text).unwrap(), source);
        }
        assert!(serde_json::from_str::<ScopeSource>("\"a..b\"").is_err());
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        use super::is_scope_token;
        for good in ["read", "orders.read", "https://api.example.com/x", "a!#[]~"] {
            assert!(is_scope_token(good), "{good}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "\u{e9}", "a\tb", "\u{7f}"] {
            assert!(!is_scope_token(bad), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn scopes_match_whole_tokens_case_sensitively() {
        let s = Scopes::from_space_separated("superadmin read");
        assert!(!s.contains("admin"));
        assert!(!s.contains("Read"));
        assert!(s.contains("read"));
        assert!(!s.contains(""));
        assert!(s.contains("superadmin"));
        assert!(!s.contains("superadmin read"));
        assert!(!s.contains("super"));
        assert!(!s.contains("rea"));
        assert!(!s.contains("read "));
        let three = Scopes::from_space_separated("a.b a a.b.c");
        assert!(three.contains("a"));
        assert!(three.contains("a.b"));
        assert!(three.contains("a.b.c"));
        assert!(!three.contains("b"));
        assert!(!three.contains("a.b.c.d"));
        assert!(!Scopes::default().contains("a"));
        // Whatever the form, the answer is that of the scopes listed one by one.
        for joined in ["x", "x y", "y x", "xy x", "x xy", "xx y", "y xx", "x\u{0}y"] {
            let scopes = Scopes::from_space_separated(joined);
            for scope in ["x", "y", "xy", "xx", "x y", "", " ", "x "] {
                assert_eq!(
                    scopes.contains(scope),
                    scopes.iter().any(|s| s == scope),
                    "{joined:?} {scope:?}"
                );
            }
        }
    }

    #[test]
    fn extra_spaces_collapse() {
        let s = Scopes::from_space_separated("  a   b ");
        assert_eq!(s.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.as_str(), "a b");
        for (given, normal) in [
            ("", ""),
            (" ", ""),
            ("a", "a"),
            ("a b", "a b"),
            (" a", "a"),
            ("a ", "a"),
            ("a  b", "a b"),
            ("ab  cd e", "ab cd e"),
            ("a b c", "a b c"),
        ] {
            assert_eq!(
                Scopes::from_space_separated(given).as_str(),
                normal,
                "{given:?}"
            );
        }
    }

    #[test]
    fn list_entries_with_spaces_are_refused() {
        assert!(Scopes::from_list(["a b"]).is_none());
        assert!(Scopes::from_list([""]).is_none());
        assert_eq!(Scopes::from_list(["a", "b"]).unwrap().as_str(), "a b");
    }

    #[test]
    fn requirements_combine_alternatives_of_sets() {
        let granted = Scopes::from_space_separated("write admin");
        let req = ScopeRequirement::any_of_all([vec!["read"], vec!["write", "admin"]]);
        assert!(req.is_satisfied_by(&granted));
        assert!(!req.is_satisfied_by(&Scopes::from_space_separated("write")));
        assert_eq!(req.to_scope_param(), "read write admin");
        assert_eq!(req.to_string(), "[read] or [write admin]");
        assert!(!ScopeRequirement::any_of(Vec::<String>::new()).is_satisfied_by(&granted));
        assert!(ScopeRequirement::all_of(Vec::<String>::new()).is_satisfied_by(&granted));
    }
}
