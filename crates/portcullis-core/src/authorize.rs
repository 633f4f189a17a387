//! Deciding with scopes: [`ScopeRequirement::check`], the one refusal of a route's scope
//! rule, and [`ScopeRequirement::validated`], the one check of a requirement written in
//! configuration. Every adapter (scope layers, policy tables, gRPC helpers) goes through
//! these two.
//!
//! ```
//! use portcullis_core::{ConfigErrorKind, ErrorKind, ScopeRequirement, Scopes};
//!
//! let read = ScopeRequirement::all_of(["orders.read"]).validated().unwrap();
//! assert!(read.check(&Scopes::from_space_separated("orders.read")).is_ok());
//! let refused = read.check(&Scopes::from_space_separated("profile")).unwrap_err();
//! assert!(matches!(refused.kind(), ErrorKind::InsufficientScope(_)));
//!
//! let empty = ScopeRequirement::all_of(Vec::<String>::new()).validated().unwrap_err();
//! assert!(matches!(empty.kind(), ConfigErrorKind::Invalid { setting: "scopes", .. }));
//! ```

use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::scope::{ScopeRequirement, Scopes, is_scope_token};

impl ScopeRequirement {
    /// Checks the granted scopes.
    ///
    /// # Errors
    /// [`ErrorKind::InsufficientScope`] naming this requirement when it is not satisfied.
    pub fn check(&self, granted: &Scopes) -> Result<(), AuthError> {
        if self.is_satisfied_by(granted) {
            Ok(())
        } else {
            Err(ErrorKind::InsufficientScope(self.clone()).into())
        }
    }

    /// This requirement, if it can be a route's rule: at least one alternative, each naming
    /// at least one scope, every scope a valid RFC 6749 `scope-token`.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "scopes" }`: an empty list would require
    /// nothing (or deny everything), a configuration mistake that must not silently open a
    /// route; a scope with a space or a quote can never be granted.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if self.alternatives().next().is_none()
            || self.alternatives().any(|mut set| set.next().is_none())
        {
            return Err(ConfigError::invalid(
                "scopes",
                "a scope requirement must name at least one scope in each alternative",
            ));
        }
        if let Some(bad) = self.alternatives().flatten().find(|s| !is_scope_token(s)) {
            return Err(ConfigError::invalid(
                "scopes",
                format!("{bad:?} is not a valid OAuth scope (RFC 6749 section 3.3)"),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_without_scopes_or_with_invalid_ones_are_refused() {
        let none: [&str; 0] = [];
        for bad in [
            ScopeRequirement::any_of(none),
            ScopeRequirement::all_of(none),
            ScopeRequirement::any_of_all([vec!["a"], vec![]]),
            ScopeRequirement::all_of(["ok", "not ok"]),
            ScopeRequirement::any_of(["\"quoted\""]),
        ] {
            assert!(bad.clone().validated().is_err(), "{bad:?}");
        }
        let good = ScopeRequirement::any_of_all([vec!["a", "b"], vec!["c"]]);
        assert_eq!(good.clone().validated().unwrap(), good);
    }

    #[test]
    fn a_check_refuses_with_the_requirement_it_failed() {
        let needed = ScopeRequirement::all_of(["a", "b"]);
        assert!(needed.check(&Scopes::from_space_separated("b a")).is_ok());
        let refused = needed
            .check(&Scopes::from_space_separated("a"))
            .unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::InsufficientScope(needed));
    }
}
