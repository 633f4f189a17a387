//! Rules on any claim: a claim chosen by its path in the payload, tested for a value, for
//! membership in a set, or for what an array holds; rules combined with all-of and any-of.
//!
//! A claim that is absent, or of another JSON type than the test reads, never satisfies a
//! test (fail closed): `"admin"` is not `["admin"]`, `1` is not `"1"`, and a missing
//! `realm_access` satisfies no rule on `realm_access.roles`.
//!
//! # Paths
//!
//! A path names members from the payload's top-level object down, separated by `.`:
//! `realm_access.roles` is the member `roles` of the object `realm_access`. A name that
//! contains a dot is written in double quotes: `"kubernetes.io".namespace` is the member
//! `namespace` of the object `kubernetes.io`, and `"https://example.com/roles"` is one
//! top-level claim. A name may not be empty, and a quoted name may not contain `"` (no
//! claim that providers document does). This is the syntax of the gateway's claim headers.
//!
//! ```
//! use portcullis_core::claim_rule::ClaimRule;
//! use portcullis_core::{Claims, ErrorKind};
//!
//! let admin = ClaimRule::contains("realm_access.roles", "admin").validated().unwrap();
//! let in_prod = ClaimRule::equals(r#""kubernetes.io".namespace"#, "prod");
//! let rule = ClaimRule::all_of([admin, in_prod]).validated().unwrap();
//!
//! let claims = Claims::from_trusted_json(
//!     r#"{"realm_access":{"roles":["admin"]},"kubernetes.io":{"namespace":"prod"}}"#,
//! ).unwrap();
//! assert!(rule.check(&claims).is_ok());
//!
//! let user = Claims::from_trusted_json(r#"{"realm_access":{"roles":"admin"}}"#).unwrap();
//! let refused = rule.check(&user).unwrap_err();
//! assert!(matches!(refused.kind(), ErrorKind::InsufficientClaims(_)));
//!
//! // A rule that could never be satisfied, or always would, is refused at configuration time.
//! assert!(ClaimRule::one_of("groups", Vec::<String>::new()).validated().is_err());
//! assert!(ClaimRule::equals("a..b", "x").validated().is_err());
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::claims::Claims;
use crate::error::{AuthError, ConfigError, ErrorKind};

/// How deep rules may nest (all-of inside any-of inside ...): far beyond any real policy,
/// and a bound on the evaluation's recursion.
pub const MAX_RULE_DEPTH: usize = 16;

/// A path to a claim in the payload (see the [module docs](self) for the syntax).
///
/// ```
/// use portcullis_core::claim_rule::ClaimPath;
///
/// let path: ClaimPath = r#""kubernetes.io".serviceaccount.name"#.parse().unwrap();
/// let names: Vec<&str> = path.names().iter().map(|n| &**n).collect();
/// assert_eq!(names, ["kubernetes.io", "serviceaccount", "name"]);
/// assert_eq!(path.to_string(), r#""kubernetes.io".serviceaccount.name"#);
/// assert!("".parse::<ClaimPath>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    names: Box<[Box<str>]>,
}

impl ClaimPath {
    /// Parses a path.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "claim path" }` for an empty path or
    /// name, or a quote that is not closed or is followed by something other than `.`.
    pub fn parse(text: &str) -> Result<ClaimPath, ConfigError> {
        let invalid = |why: &str| ConfigError::invalid("claim path", format!("{text:?}: {why}"));
        let mut names = Vec::new();
        let mut rest = text;
        loop {
            let (name, after) = if let Some(quoted) = rest.strip_prefix('"') {
                quoted
                    .split_once('"')
                    .ok_or_else(|| invalid("a quoted name has no closing `\"`"))?
            } else {
                match rest.split_once('.') {
                    Some((name, _)) => (name, rest.get(name.len()..).unwrap_or_default()),
                    None => (rest, ""),
                }
            };
            if name.is_empty() {
                return Err(invalid(
                    "an empty name (a name with dots is written in double quotes)",
                ));
            }
            if !rest.starts_with('"') && name.contains('"') {
                return Err(invalid("a `\"` inside a name"));
            }
            names.push(Box::from(name));
            if after.is_empty() {
                return Ok(ClaimPath {
                    names: names.into(),
                });
            }
            rest = after
                .strip_prefix('.')
                .ok_or_else(|| invalid("a quoted name must be followed by `.` or the end"))?;
        }
    }

    /// The path of one top-level claim named `name`, whatever characters it holds (dots
    /// included); `None` for an empty name or one holding `"`.
    #[must_use]
    pub fn top_level(name: &str) -> Option<ClaimPath> {
        (!name.is_empty() && !name.contains('"')).then(|| ClaimPath {
            names: Box::new([Box::from(name)]),
        })
    }

    /// The path of these member names, from the top-level object down, whatever characters
    /// they hold (dots included); `None` without names, or for an empty name or one holding
    /// `"`.
    ///
    /// ```
    /// use portcullis_core::ClaimPath;
    ///
    /// let client = ClaimPath::from_names(["resource_access", "my.app", "roles"]).unwrap();
    /// assert_eq!(client.to_string(), r#"resource_access."my.app".roles"#);
    /// assert!(ClaimPath::from_names(["a", ""]).is_none());
    /// ```
    pub fn from_names<I, S>(names: I) -> Option<ClaimPath>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Box<[Box<str>]> = names.into_iter().map(|n| Box::from(n.as_ref())).collect();
        let usable = !names.is_empty() && names.iter().all(|n| !n.is_empty() && !n.contains('"'));
        usable.then_some(ClaimPath { names })
    }

    /// The path of a top-level claim whose name is known to be plain (no dot, no quote).
    pub(crate) fn plain(name: &'static str) -> ClaimPath {
        ClaimPath {
            names: Box::new([Box::from(name)]),
        }
    }

    /// The member names, from the top-level object down.
    #[must_use]
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// The value at this path in `payload`, if every name on the way is a member of an
    /// object.
    #[must_use]
    pub fn find<'v>(&self, payload: &'v Value) -> Option<&'v Value> {
        self.names
            .iter()
            .try_fold(payload, |value, name| value.as_object()?.get(&**name))
    }
}

impl std::str::FromStr for ClaimPath {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaimPath::parse(s)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if name.contains('.') {
                write!(f, "\"{name}\"")?;
            } else {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({self})")
    }
}

/// A value a rule compares a claim with: a JSON string, boolean or integer. A string is
/// never equal to a number or a boolean, whatever their text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimValue {
    /// A JSON string, compared exactly (case-sensitive, no normalisation).
    String(Box<str>),
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number that is an integer (`5`; `5.0` and `5e0` are not integers here).
    Integer(i64),
}

impl ClaimValue {
    /// Whether the JSON value `v` is this value, of the same type.
    #[must_use]
    pub fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (ClaimValue::String(want), Value::String(got)) => **want == **got,
            (ClaimValue::Bool(want), Value::Bool(got)) => want == got,
            (ClaimValue::Integer(want), Value::Number(got)) => got.as_i64() == Some(*want),
            _ => false,
        }
    }
}

impl From<&str> for ClaimValue {
    fn from(s: &str) -> Self {
        ClaimValue::String(s.into())
    }
}

impl From<String> for ClaimValue {
    fn from(s: String) -> Self {
        ClaimValue::String(s.into_boxed_str())
    }
}

impl From<&String> for ClaimValue {
    fn from(s: &String) -> Self {
        ClaimValue::String(s.as_str().into())
    }
}

impl From<bool> for ClaimValue {
    fn from(b: bool) -> Self {
        ClaimValue::Bool(b)
    }
}

impl From<i64> for ClaimValue {
    fn from(n: i64) -> Self {
        ClaimValue::Integer(n)
    }
}

impl fmt::Display for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimValue::String(s) => write!(f, "{s:?}"),
            ClaimValue::Bool(b) => write!(f, "{b}"),
            ClaimValue::Integer(n) => write!(f, "{n}"),
        }
    }
}

/// A rule on claims: a test of one claim, or a combination of rules. Cheap to clone.
///
/// | constructor | satisfied when the claim at the path |
/// |---|---|
/// | [`present`](ClaimRule::present) | exists and is not `null` |
/// | [`equals`](ClaimRule::equals) | is the value (same JSON type) |
/// | [`one_of`](ClaimRule::one_of) | is one of the values (a scalar, not an array) |
/// | [`contains`](ClaimRule::contains) | is an array holding the value |
/// | [`contains_any`](ClaimRule::contains_any) | is an array holding at least one of the values |
/// | [`contains_all`](ClaimRule::contains_all) | is an array holding every one of the values |
///
/// [`all_of`](ClaimRule::all_of) and [`any_of`](ClaimRule::any_of) combine rules. Build
/// rules from configuration through [`ClaimRule::validated`], which refuses the ones that
/// cannot mean what was written: a path that does not parse (such a rule is never satisfied
/// until then), an empty set of values, an empty combination.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimRule {
    node: Arc<Node>,
}

#[derive(PartialEq, Eq, Hash)]
enum Node {
    Test {
        /// `Err` holds the text of a path that does not parse: never satisfied, refused by
        /// `validated`.
        path: Result<ClaimPath, Box<str>>,
        test: Test,
    },
    AllOf(Box<[ClaimRule]>),
    AnyOf(Box<[ClaimRule]>),
}

#[derive(PartialEq, Eq, Hash)]
enum Test {
    Present,
    Equals(ClaimValue),
    OneOf(Box<[ClaimValue]>),
    Contains(ClaimValue),
    ContainsAny(Box<[ClaimValue]>),
    ContainsAll(Box<[ClaimValue]>),
}

impl Test {
    fn is_satisfied_by(&self, v: &Value) -> bool {
        let array = || v.as_array().map(Vec::as_slice);
        match self {
            Test::Present => !v.is_null(),
            Test::Equals(want) => want.matches(v),
            Test::OneOf(set) => set.iter().any(|want| want.matches(v)),
            Test::Contains(want) => array().is_some_and(|a| a.iter().any(|x| want.matches(x))),
            Test::ContainsAny(set) => {
                array().is_some_and(|a| set.iter().any(|want| a.iter().any(|x| want.matches(x))))
            }
            // An empty set would hold for every array: refused by `validated`, never
            // satisfied meanwhile.
            Test::ContainsAll(set) => {
                !set.is_empty()
                    && array()
                        .is_some_and(|a| set.iter().all(|want| a.iter().any(|x| want.matches(x))))
            }
        }
    }

    fn values(&self) -> &[ClaimValue] {
        match self {
            Test::Present => &[],
            Test::Equals(v) | Test::Contains(v) => std::slice::from_ref(v),
            Test::OneOf(set) | Test::ContainsAny(set) | Test::ContainsAll(set) => set,
        }
    }
}

fn values<I, V>(values: I) -> Box<[ClaimValue]>
where
    I: IntoIterator<Item = V>,
    V: Into<ClaimValue>,
{
    values.into_iter().map(Into::into).collect()
}

impl ClaimRule {
    fn test(path: &str, test: Test) -> ClaimRule {
        ClaimRule {
            node: Arc::new(Node::Test {
                path: ClaimPath::parse(path).map_err(|_| Box::from(path)),
                test,
            }),
        }
    }

    /// The claim at `path` is present, of any JSON type but `null`.
    #[must_use]
    pub fn present(path: &str) -> ClaimRule {
        ClaimRule::test(path, Test::Present)
    }

    /// The claim at `path` is `value`.
    #[must_use]
    pub fn equals(path: &str, value: impl Into<ClaimValue>) -> ClaimRule {
        ClaimRule::test(path, Test::Equals(value.into()))
    }

    /// The claim at `path` is one of `values`.
    #[must_use]
    pub fn one_of<I, V>(path: &str, values: I) -> ClaimRule
    where
        I: IntoIterator<Item = V>,
        V: Into<ClaimValue>,
    {
        ClaimRule::test(path, Test::OneOf(self::values(values)))
    }

    /// The claim at `path` is an array that holds `value`.
    #[must_use]
    pub fn contains(path: &str, value: impl Into<ClaimValue>) -> ClaimRule {
        ClaimRule::test(path, Test::Contains(value.into()))
    }

    /// The claim at `path` is an array that holds at least one of `values`.
    #[must_use]
    pub fn contains_any<I, V>(path: &str, values: I) -> ClaimRule
    where
        I: IntoIterator<Item = V>,
        V: Into<ClaimValue>,
    {
        ClaimRule::test(path, Test::ContainsAny(self::values(values)))
    }

    /// The claim at `path` is an array that holds every one of `values`.
    #[must_use]
    pub fn contains_all<I, V>(path: &str, values: I) -> ClaimRule
    where
        I: IntoIterator<Item = V>,
        V: Into<ClaimValue>,
    {
        ClaimRule::test(path, Test::ContainsAll(self::values(values)))
    }

    /// Every one of `rules` is satisfied.
    #[must_use]
    pub fn all_of(rules: impl IntoIterator<Item = ClaimRule>) -> ClaimRule {
        ClaimRule {
            node: Arc::new(Node::AllOf(rules.into_iter().collect())),
        }
    }

    /// At least one of `rules` is satisfied.
    #[must_use]
    pub fn any_of(rules: impl IntoIterator<Item = ClaimRule>) -> ClaimRule {
        ClaimRule {
            node: Arc::new(Node::AnyOf(rules.into_iter().collect())),
        }
    }

    /// Whether the payload `claims` (a JSON object) satisfies the rule.
    #[must_use]
    pub fn is_satisfied_by_json(&self, claims: &Value) -> bool {
        self.satisfied_at(claims, 0)
    }

    fn satisfied_at(&self, claims: &Value, depth: usize) -> bool {
        // Deeper than `validated` allows: only an unvalidated rule gets here; fail closed.
        if depth > MAX_RULE_DEPTH {
            return false;
        }
        match &*self.node {
            Node::Test {
                path: Ok(path),
                test,
            } => path.find(claims).is_some_and(|v| test.is_satisfied_by(v)),
            Node::Test { path: Err(_), .. } => false,
            // An empty all-of would always pass: refused by `validated`, never satisfied.
            Node::AllOf(rules) => {
                !rules.is_empty() && rules.iter().all(|r| r.satisfied_at(claims, depth + 1))
            }
            Node::AnyOf(rules) => rules.iter().any(|r| r.satisfied_at(claims, depth + 1)),
        }
    }

    /// Whether the verified `claims` satisfy the rule. This parses the payload once (a
    /// route with several rules: combine them with [`ClaimRule::all_of`]).
    #[must_use]
    pub fn is_satisfied_by(&self, claims: &Claims) -> bool {
        serde_json::from_str::<Value>(claims.as_json())
            .is_ok_and(|payload| self.is_satisfied_by_json(&payload))
    }

    /// Checks a route's rule on verified claims.
    ///
    /// # Errors
    /// [`ErrorKind::InsufficientClaims`] naming this rule when it is not satisfied: answered
    /// `403` (RFC 6750's `insufficient_scope`, without a `scope` attribute, so the answer
    /// does not say which rule failed; the log line does).
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.is_satisfied_by(claims) {
            Ok(())
        } else {
            Err(ErrorKind::InsufficientClaims(self.clone()).into())
        }
    }

    /// This rule, if it can be a configured rule: every path parses, every set names at
    /// least one value, every combination at least one rule, nesting at most
    /// [`MAX_RULE_DEPTH`] deep.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "claim rule" }` saying what is wrong:
    /// an empty set or combination would deny everything (or, for all-of, allow
    /// everything), a mistake that must not silently close or open a route.
    pub fn validated(self) -> Result<Self, ConfigError> {
        self.check_config(0)?;
        Ok(self)
    }

    fn check_config(&self, depth: usize) -> Result<(), ConfigError> {
        let invalid = |why: String| ConfigError::invalid("claim rule", why);
        if depth > MAX_RULE_DEPTH {
            return Err(invalid(format!(
                "rules nest deeper than {MAX_RULE_DEPTH} levels"
            )));
        }
        match &*self.node {
            Node::Test {
                path: Err(text), ..
            } => {
                // The parse error says why.
                ClaimPath::parse(text)?;
                Err(invalid(format!("{text:?} is not a claim path")))
            }
            Node::Test {
                path: Ok(path),
                test,
            } if test.values().is_empty() && !matches!(test, Test::Present) => Err(invalid(
                format!("the rule on {path} names no value: it could never be satisfied"),
            )),
            Node::Test { .. } => Ok(()),
            Node::AllOf(rules) | Node::AnyOf(rules) if rules.is_empty() => Err(invalid(
                "an all-of or any-of combination without rules".to_owned(),
            )),
            Node::AllOf(rules) | Node::AnyOf(rules) => {
                rules.iter().try_for_each(|r| r.check_config(depth + 1))
            }
        }
    }
}

impl fmt::Display for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, values: &[ClaimValue]| {
            f.write_str("[")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str("]")
        };
        let rules = |f: &mut fmt::Formatter<'_>, word: &str, rules: &[ClaimRule]| {
            write!(f, "{word}(")?;
            for (i, r) in rules.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{r}")?;
            }
            f.write_str(")")
        };
        match &*self.node {
            Node::Test { path, test } => {
                match path {
                    Ok(path) => write!(f, "{path}")?,
                    Err(text) => write!(f, "(invalid path {text:?})")?,
                }
                match test {
                    Test::Present => f.write_str(" is present"),
                    Test::Equals(v) => write!(f, " equals {v}"),
                    Test::OneOf(set) => {
                        f.write_str(" one of ")?;
                        list(f, set)
                    }
                    Test::Contains(v) => write!(f, " contains {v}"),
                    Test::ContainsAny(set) => {
                        f.write_str(" contains any of ")?;
                        list(f, set)
                    }
                    Test::ContainsAll(set) => {
                        f.write_str(" contains all of ")?;
                        list(f, set)
                    }
                }
            }
            Node::AllOf(r) => rules(f, "all of", r),
            Node::AnyOf(r) => rules(f, "any of", r),
        }
    }
}

impl fmt::Debug for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimRule({self})")
    }
}

/// Configuration files (feature `serde`): one object per rule, naming its claim and exactly
/// one test, or combining rules:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use portcullis_core::ClaimRule;
///
/// let rule: ClaimRule = serde_json::from_str(r#"{"all_of": [
///     {"claim": "repository", "equals": "octo-org/octo-repo"},
///     {"claim": "\"kubernetes.io\".namespace", "one_of": ["shop", "billing"]},
///     {"any_of": [
///         {"claim": "roles", "contains": "admin"},
///         {"claim": "groups", "contains_all": ["ops", "oncall"]},
///         {"claim": "scp", "present": true}
///     ]}
/// ]}"#).unwrap();
/// assert!(rule.clone().validated().is_ok());
///
/// // Two tests in one object, or none, are refused; so are unknown members and floats.
/// for bad in [
///     r#"{"claim": "a", "equals": "x", "contains": "x"}"#,
///     r#"{"claim": "a"}"#,
///     r#"{"claim": "a", "equal": "x"}"#,
///     r#"{"claim": "a", "equals": 1.5}"#,
///     r#"{"equals": "x"}"#,
/// ] {
///     assert!(serde_json::from_str::<ClaimRule>(bad).is_err(), "{bad}");
/// }
/// # }
/// ```
#[cfg(feature = "serde")]
mod config {
    use serde::Deserialize;

    use super::{ClaimRule, ClaimValue};

    impl<'de> Deserialize<'de> for ClaimValue {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match serde_json::Value::deserialize(deserializer)? {
                serde_json::Value::String(s) => Ok(ClaimValue::from(s)),
                serde_json::Value::Bool(b) => Ok(ClaimValue::Bool(b)),
                serde_json::Value::Number(n) if n.as_i64().is_some() => {
                    Ok(ClaimValue::Integer(n.as_i64().unwrap_or_default()))
                }
                _ => Err(serde::de::Error::custom(
                    "a claim rule compares with a string, a boolean or an integer",
                )),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Text {
        claim: Option<String>,
        present: Option<bool>,
        equals: Option<ClaimValue>,
        one_of: Option<Vec<ClaimValue>>,
        contains: Option<ClaimValue>,
        contains_any: Option<Vec<ClaimValue>>,
        contains_all: Option<Vec<ClaimValue>>,
        all_of: Option<Vec<ClaimRule>>,
        any_of: Option<Vec<ClaimRule>>,
    }

    impl<'de> Deserialize<'de> for ClaimRule {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let t = Text::deserialize(deserializer)?;
            let tests = [
                t.present.is_some(),
                t.equals.is_some(),
                t.one_of.is_some(),
                t.contains.is_some(),
                t.contains_any.is_some(),
                t.contains_all.is_some(),
                t.all_of.is_some(),
                t.any_of.is_some(),
            ];
            if tests.iter().filter(|t| **t).count() != 1 {
                return Err(serde::de::Error::custom(
                    "a claim rule has exactly one of present, equals, one_of, contains, \
                     contains_any, contains_all, all_of, any_of",
                ));
            }
            let combination = t.all_of.is_some() || t.any_of.is_some();
            let claim = match (t.claim, combination) {
                (Some(_), true) => {
                    return Err(serde::de::Error::custom(
                        "all_of and any_of combine rules and name no claim",
                    ));
                }
                (None, false) => {
                    return Err(serde::de::Error::custom("a claim rule names its claim"));
                }
                (claim, _) => claim.unwrap_or_default(),
            };
            Ok(if let Some(rules) = t.all_of {
                ClaimRule::all_of(rules)
            } else if let Some(rules) = t.any_of {
                ClaimRule::any_of(rules)
            } else if let Some(present) = t.present {
                if !present {
                    return Err(serde::de::Error::custom(
                        "present: false is no rule (write present: true)",
                    ));
                }
                ClaimRule::present(&claim)
            } else if let Some(v) = t.equals {
                ClaimRule::equals(&claim, v)
            } else if let Some(v) = t.contains {
                ClaimRule::contains(&claim, v)
            } else if let Some(set) = t.one_of {
                ClaimRule::one_of(&claim, set)
            } else if let Some(set) = t.contains_any {
                ClaimRule::contains_any(&claim, set)
            } else {
                ClaimRule::contains_all(&claim, t.contains_all.unwrap_or_default())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(rule: &ClaimRule, payload: &Value) -> bool {
        rule.is_satisfied_by_json(payload)
    }

    #[test]
    fn paths_split_on_dots_and_quote_names_with_dots() {
        let p = |s: &str| ClaimPath::parse(s).map(|p| p.names().to_vec());
        assert_eq!(p("sub").unwrap(), [Box::from("sub")]);
        assert_eq!(
            p("realm_access.roles").unwrap(),
            [Box::from("realm_access"), Box::from("roles")]
        );
        assert_eq!(
            p(r#""kubernetes.io".namespace"#).unwrap(),
            [Box::from("kubernetes.io"), Box::from("namespace")]
        );
        assert_eq!(
            p(r#"resource_access."my.app".roles"#).unwrap(),
            [
                Box::from("resource_access"),
                Box::from("my.app"),
                Box::from("roles")
            ]
        );
        for bad in [
            "", ".a", "a.", "a..b", "\"a", "\"a\"b", "\"\"", "a\"b", "\"a\".", "a.\"\"",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        for text in ["a", "a.b.c", r#""a.b".c"#, r#"x."y.z""#] {
            assert_eq!(ClaimPath::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            ClaimPath::top_level("https://x.example/roles")
                .unwrap()
                .names(),
            [Box::from("https://x.example/roles")]
        );
        assert!(ClaimPath::top_level("").is_none());
        assert!(ClaimPath::top_level("a\"b").is_none());
        let names = |n: &[&str]| ClaimPath::from_names(n).map(|p| p.to_string());
        assert_eq!(
            names(&["resource_access", "my.app", "roles"]).as_deref(),
            Some(r#"resource_access."my.app".roles"#)
        );
        assert_eq!(names(&["sub"]).as_deref(), Some("sub"));
        for bad in [
            &[][..],
            &[""],
            &["a", ""],
            &["", "a"],
            &["a\"b"],
            &["a", "\""],
        ] {
            assert_eq!(names(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_dotted_name_is_not_a_nested_path() {
        let payload = json!({"kubernetes.io": {"namespace": "prod"}, "kubernetes": {"io": {"namespace": "dev"}}});
        assert!(ok(
            &ClaimRule::equals(r#""kubernetes.io".namespace"#, "prod"),
            &payload
        ));
        assert!(ok(
            &ClaimRule::equals("kubernetes.io.namespace", "dev"),
            &payload
        ));
        assert!(!ok(
            &ClaimRule::equals("kubernetes.io.namespace", "prod"),
            &payload
        ));
    }

    #[test]
    fn equals_compares_type_and_value() {
        let p = json!({"s": "access", "b": true, "n": 5, "f": 5.0, "a": ["access"], "nul": null});
        assert!(ok(&ClaimRule::equals("s", "access"), &p));
        assert!(!ok(&ClaimRule::equals("s", "Access"), &p));
        assert!(!ok(&ClaimRule::equals("s", "acces"), &p));
        assert!(ok(&ClaimRule::equals("b", true), &p));
        assert!(!ok(&ClaimRule::equals("b", false), &p));
        assert!(!ok(&ClaimRule::equals("b", "true"), &p));
        assert!(ok(&ClaimRule::equals("n", 5), &p));
        assert!(!ok(&ClaimRule::equals("n", "5"), &p));
        assert!(!ok(&ClaimRule::equals("f", 5), &p));
        // An array holding the value is not the value.
        assert!(!ok(&ClaimRule::equals("a", "access"), &p));
        assert!(!ok(&ClaimRule::equals("nul", "null"), &p));
        assert!(!ok(&ClaimRule::equals("missing", "access"), &p));
    }

    #[test]
    fn present_wants_a_value_that_is_not_null() {
        let p = json!({"scp": "a", "roles": [], "nul": null, "o": {"x": false}});
        assert!(ok(&ClaimRule::present("scp"), &p));
        assert!(ok(&ClaimRule::present("roles"), &p));
        assert!(ok(&ClaimRule::present("o.x"), &p));
        assert!(!ok(&ClaimRule::present("nul"), &p));
        assert!(!ok(&ClaimRule::present("missing"), &p));
        assert!(!ok(&ClaimRule::present("scp.x"), &p));
        assert!(ClaimRule::present("scp").validated().is_ok());
    }

    #[test]
    fn one_of_wants_a_scalar_in_the_set() {
        let p = json!({"env": "prod", "list": ["prod"], "n": 2});
        let envs = ClaimRule::one_of("env", ["staging", "prod"]);
        assert!(ok(&envs, &p));
        assert!(!ok(&ClaimRule::one_of("env", ["staging", "dev"]), &p));
        assert!(!ok(&ClaimRule::one_of("list", ["prod"]), &p));
        assert!(ok(&ClaimRule::one_of("n", [1_i64, 2]), &p));
        assert!(!ok(&ClaimRule::one_of("nope", ["prod"]), &p));
    }

    #[test]
    fn contains_wants_an_array() {
        let p = json!({"roles": ["reader", "writer", 3], "one": "reader", "obj": {"reader": true}});
        assert!(ok(&ClaimRule::contains("roles", "writer"), &p));
        assert!(ok(&ClaimRule::contains("roles", 3), &p));
        assert!(!ok(&ClaimRule::contains("roles", "admin"), &p));
        assert!(!ok(&ClaimRule::contains("roles", "write"), &p));
        // A string is not an array, even one equal to the value; nor is an object.
        assert!(!ok(&ClaimRule::contains("one", "reader"), &p));
        assert!(!ok(&ClaimRule::contains("obj", "reader"), &p));
        assert!(!ok(&ClaimRule::contains("missing", "reader"), &p));
    }

    #[test]
    fn contains_any_and_all() {
        let p = json!({"roles": ["reader", "writer"], "s": "reader"});
        assert!(ok(
            &ClaimRule::contains_any("roles", ["admin", "writer"]),
            &p
        ));
        assert!(!ok(
            &ClaimRule::contains_any("roles", ["admin", "owner"]),
            &p
        ));
        assert!(ok(
            &ClaimRule::contains_all("roles", ["writer", "reader"]),
            &p
        ));
        assert!(!ok(
            &ClaimRule::contains_all("roles", ["writer", "admin"]),
            &p
        ));
        assert!(!ok(&ClaimRule::contains_any("s", ["reader"]), &p));
        assert!(!ok(&ClaimRule::contains_all("s", ["reader"]), &p));
    }

    #[test]
    fn combinations() {
        let p = json!({"a": "x", "b": ["y"]});
        let (yes, no) = (ClaimRule::equals("a", "x"), ClaimRule::contains("b", "z"));
        assert!(ok(&ClaimRule::all_of([yes.clone()]), &p));
        assert!(!ok(&ClaimRule::all_of([yes.clone(), no.clone()]), &p));
        assert!(ok(&ClaimRule::any_of([no.clone(), yes.clone()]), &p));
        assert!(!ok(&ClaimRule::any_of([no.clone(), no.clone()]), &p));
        // Empty combinations are configuration errors, and never satisfied meanwhile.
        assert!(!ok(&ClaimRule::all_of([]), &p));
        assert!(!ok(&ClaimRule::any_of([]), &p));
        assert!(ClaimRule::all_of([]).validated().is_err());
        assert!(
            ClaimRule::any_of([yes.clone(), ClaimRule::any_of([])])
                .validated()
                .is_err()
        );
        let nested = ClaimRule::any_of([ClaimRule::all_of([yes.clone(), no]), yes]);
        assert!(ok(&nested, &p));
        assert_eq!(
            nested.to_string(),
            r#"any of(all of(a equals "x", b contains "z"), a equals "x")"#
        );
    }

    #[test]
    fn configuration_errors() {
        let none: [&str; 0] = [];
        for bad in [
            ClaimRule::one_of("a", none),
            ClaimRule::contains_any("a", none),
            ClaimRule::contains_all("a", none),
            ClaimRule::equals("", "x"),
            ClaimRule::equals("a.", "x"),
            ClaimRule::contains("\"a.b", "x"),
        ] {
            let e = bad.clone().validated().unwrap_err();
            assert!(
                matches!(e.kind(), crate::ConfigErrorKind::Invalid { .. }),
                "{bad:?}"
            );
            assert!(!ok(&bad, &json!({"a": ["x"], "": "x"})), "{bad:?}");
        }
        let mut deep = ClaimRule::equals("a", "x");
        for _ in 0..MAX_RULE_DEPTH {
            deep = ClaimRule::all_of([deep]);
        }
        // As deep as allowed: valid, and evaluated to the end.
        assert!(deep.clone().validated().is_ok());
        assert!(ok(&deep, &json!({"a": "x"})));
        // One level more: refused, and never satisfied if used unvalidated.
        let deep = ClaimRule::any_of([deep]);
        assert!(deep.clone().validated().is_err());
        assert!(!ok(&deep, &json!({"a": "x"})));
        // The same bound through any-of alone.
        let mut wide = ClaimRule::equals("a", "x");
        for _ in 0..MAX_RULE_DEPTH {
            wide = ClaimRule::any_of([wide]);
        }
        assert!(ok(&wide, &json!({"a": "x"})));
        let wide = ClaimRule::any_of([wide]);
        assert!(wide.clone().validated().is_err());
        assert!(!ok(&wide, &json!({"a": "x"})));
        assert!(ClaimRule::contains_all("a", ["x"]).validated().is_ok());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn configuration_forms_read_as_the_constructors_build() {
        let read = |text: &str| serde_json::from_str::<ClaimRule>(text);
        for (text, built) in [
            (
                r#"{"claim": "a", "present": true}"#,
                ClaimRule::present("a"),
            ),
            (
                r#"{"claim": "a", "equals": "x"}"#,
                ClaimRule::equals("a", "x"),
            ),
            (
                r#"{"claim": "a", "equals": true}"#,
                ClaimRule::equals("a", true),
            ),
            (
                r#"{"claim": "a", "equals": -7}"#,
                ClaimRule::equals("a", -7_i64),
            ),
            (
                r#"{"claim": "a", "one_of": ["x", 2, false]}"#,
                ClaimRule::one_of(
                    "a",
                    [
                        ClaimValue::from("x"),
                        ClaimValue::Integer(2),
                        ClaimValue::Bool(false),
                    ],
                ),
            ),
            (
                r#"{"claim": "a", "contains": "x"}"#,
                ClaimRule::contains("a", "x"),
            ),
            (
                r#"{"claim": "a", "contains_any": ["x", "y"]}"#,
                ClaimRule::contains_any("a", ["x", "y"]),
            ),
            (
                r#"{"claim": "a", "contains_all": ["x", "y"]}"#,
                ClaimRule::contains_all("a", ["x", "y"]),
            ),
            (
                r#"{"all_of": [{"claim": "a", "equals": "x"}]}"#,
                ClaimRule::all_of([ClaimRule::equals("a", "x")]),
            ),
            (
                r#"{"any_of": [{"claim": "a", "equals": "x"}, {"claim": "b", "present": true}]}"#,
                ClaimRule::any_of([ClaimRule::equals("a", "x"), ClaimRule::present("b")]),
            ),
        ] {
            assert_eq!(read(text).unwrap(), built, "{text}");
        }
        for bad in [
            r#"{"claim": "a", "present": false}"#,
            r#"{"claim": "a", "equals": 1.5}"#,
            r#"{"claim": "a", "equals": null}"#,
            r#"{"claim": "a", "equals": ["x"]}"#,
            r#"{"claim": "a", "one_of": [{}]}"#,
            r#"{"claim": "a", "all_of": [{"claim": "b", "present": true}]}"#,
            r#"{"any_of": [], "all_of": []}"#,
            r#"{"equals": "x"}"#,
            r#"{"claim": "a"}"#,
            r#"{"claim": "a", "equals": "x", "contains": "x"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn check_refuses_with_the_rule_and_reads_verified_claims() {
        let claims =
            Claims::from_trusted_json(r#"{"groups":["eng"],"token_use":"access"}"#).unwrap();
        let rule = ClaimRule::contains("groups", "ops");
        let refused = rule.check(&claims).unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::InsufficientClaims(rule));
        assert_eq!(refused.code(), "insufficient_claims");
        assert!(ClaimRule::contains("groups", "eng").check(&claims).is_ok());
        // The log line names the rule; never a claim's value.
        assert_eq!(
            refused.to_string(),
            r#"claims do not satisfy the rule: groups contains "ops""#
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn rules_read_from_configuration() {
        let rule: ClaimRule = serde_json::from_value(json!({"any_of": [
            {"claim": "a", "equals": 5},
            {"claim": "\"x.y\".z", "contains_any": ["p", true]}
        ]}))
        .unwrap();
        assert_eq!(
            rule,
            ClaimRule::any_of([
                ClaimRule::equals("a", 5),
                ClaimRule::contains_any(
                    r#""x.y".z"#,
                    [ClaimValue::from("p"), ClaimValue::from(true)]
                ),
            ])
        );
        for bad in [
            json!({"claim": "a", "present": false}),
            json!({"claim": "a", "all_of": [{"claim": "b", "present": true}]}),
            json!({"claim": "a", "equals": null}),
            json!({"claim": "a", "one_of": [[1]]}),
            json!({"any_of": [{"claim": "a"}]}),
        ] {
            assert!(
                serde_json::from_value::<ClaimRule>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                "[a-c]{0,2}".prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                (-2_i64..3).prop_map(Value::from),
                Just(Value::Null),
                Just(json!(1.5)),
            ]
        }

        fn claim() -> impl Strategy<Value = Value> {
            prop_oneof![
                scalar(),
                prop::collection::vec(scalar(), 0..4).prop_map(Value::from),
                scalar().prop_map(|v| json!({ "x": v })),
            ]
        }

        fn wanted() -> impl Strategy<Value = ClaimValue> {
            prop_oneof![
                "[a-c]{0,2}".prop_map(ClaimValue::from),
                any::<bool>().prop_map(ClaimValue::from),
                (-2_i64..3).prop_map(ClaimValue::from),
            ]
        }

        /// The meaning of a test written out plainly, independently of the rule's code.
        fn same(want: &ClaimValue, got: &Value) -> bool {
            match want {
                ClaimValue::String(s) => got.as_str() == Some(&**s),
                ClaimValue::Bool(b) => got.as_bool() == Some(*b),
                ClaimValue::Integer(n) => got.is_i64() && got.as_i64() == Some(*n),
            }
        }

        fn items(got: &Value) -> Option<&Vec<Value>> {
            got.as_array()
        }

        proptest! {
            #[test]
            fn a_rule_never_accepts_a_claim_that_does_not_satisfy_it(
                value in prop::option::of(claim()),
                set in prop::collection::vec(wanted(), 1..4),
                op in 0_u8..5,
                nested in any::<bool>(),
            ) {
                let path = if nested { r#""a.b".c"# } else { "c" };
                let payload = match &value {
                    Some(v) if nested => json!({ "a.b": { "c": v } }),
                    Some(v) => json!({ "c": v }),
                    None => json!({ "other": 1 }),
                };
                let first = set[0].clone();
                let (rule, expected) = {
                    let got = value.as_ref();
                    match op {
                        0 => (ClaimRule::equals(path, first.clone()), got.is_some_and(|g| same(&first, g))),
                        1 => (ClaimRule::one_of(path, set.clone()), got.is_some_and(|g| set.iter().any(|w| same(w, g)))),
                        2 => (ClaimRule::contains(path, first.clone()), got.and_then(items).is_some_and(|a| a.iter().any(|g| same(&first, g)))),
                        3 => (ClaimRule::contains_any(path, set.clone()), got.and_then(items).is_some_and(|a| set.iter().any(|w| a.iter().any(|g| same(w, g))))),
                        _ => (ClaimRule::contains_all(path, set.clone()), got.and_then(items).is_some_and(|a| set.iter().all(|w| a.iter().any(|g| same(w, g))))),
                    }
                };
                let rule = rule.validated().unwrap();
                prop_assert_eq!(rule.is_satisfied_by_json(&payload), expected, "{} on {}", rule, payload);
                // Through verified claims too.
                let claims = Claims::from_trusted_json(&payload.to_string()).unwrap();
                prop_assert_eq!(rule.check(&claims).is_ok(), expected);
            }
        }
    }
}
