//! Scopes (RFC 6749 section 3.3).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The management API's scopes. `gatehouse:admin` covers all the others.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "gatehouse:admin",
    "gatehouse:apps_read",
    "gatehouse:apps_write",
    "gatehouse:apps_delete",
    "gatehouse:scopes_read",
    "gatehouse:scopes_write",
    "gatehouse:scopes_delete",
    "gatehouse:users_read",
    "gatehouse:users_write",
    "gatehouse:users_delete",
    "gatehouse:roles_read",
    "gatehouse:roles_write",
    "gatehouse:roles_delete",
    "gatehouse:keys_read",
    "gatehouse:keys_write",
    "gatehouse:keys_delete",
];

/// The longest single scope token accepted.
const MAX_SCOPE_LEN: usize = 128;
/// The most scope tokens one request may carry.
const MAX_SCOPES: usize = 64;

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 section 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Validates one scope token.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] if it is empty, too long or has a character outside the grammar.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if value.is_empty() || value.len() > MAX_SCOPE_LEN {
            return Err(InvalidValue("scope must be 1 to 128 characters"));
        }
        let allowed = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        if !value.bytes().all(allowed) {
            return Err(InvalidValue("scope has a character outside rfc 6749 section 3.3"));
        }
        Ok(Self(value))
    }

    /// The scope as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Scope {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> Self {
        value.0
    }
}

/// A set of scopes, kept sorted so that the wire form is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-delimited `scope` parameter. Repeated tokens collapse into one.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] for a bad token, stray whitespace or more than 64 scopes.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let mut set = BTreeSet::new();
        for token in value.split(' ') {
            if token.is_empty() {
                return Err(InvalidValue("scope must be separated by single spaces"));
            }
            set.insert(Scope::new(token)?);
            if set.len() > MAX_SCOPES {
                return Err(InvalidValue("too many scopes"));
            }
        }
        Ok(Self(set))
    }

    /// A set from known-good static scopes.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] if one of them is not a valid scope token.
    pub fn from_static(scopes: &[&str]) -> Result<Self, InvalidValue> {
        scopes.iter().map(|s| Scope::new(*s)).collect::<Result<BTreeSet<_>, _>>().map(Self)
    }

    /// Whether every scope of `self` is in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether `scope` is in the set.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() { Ok(Self::default()) } else { Self::parse(&value) }
    }
}

impl crate::json::Read for ScopeSet {
    /// As serde reads it: a string, empty for no scope.
    fn read(r: &mut crate::json::Reader<'_>) -> crate::json::Result<Self> {
        Self::try_from(String::read(r)?).map_err(|_| crate::json::Invalid)
    }
}

impl From<ScopeSet> for String {
    fn from(value: ScopeSet) -> Self {
        value.to_string()
    }
}

impl std::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorted_and_deduplicated() {
        let set = ScopeSet::parse("b a b").unwrap();
        assert_eq!(set.to_string(), "a b");
    }

    #[test]
    fn refuses_bad_tokens_and_spacing() {
        assert!(ScopeSet::parse("a  b").is_err());
        assert!(ScopeSet::parse(" a").is_err());
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("é").is_err());
    }

    #[test]
    fn subset() {
        let all = ScopeSet::from_static(MANAGEMENT_SCOPES).unwrap();
        assert!(ScopeSet::parse("gatehouse:apps_read").unwrap().is_subset(&all));
        assert!(!ScopeSet::parse("openid").unwrap().is_subset(&all));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            let _ = ScopeSet::parse(&s);
        }

        #[test]
        fn display_round_trips(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,10}", 1..8)) {
            let set = ScopeSet::parse(&tokens.join(" ")).unwrap();
            proptest::prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set);
        }
    }
}
