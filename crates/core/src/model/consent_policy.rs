//! An app's consent policy: a text in Markdown (terms, a data processing notice)
//! that every user accepts once per version before the app gets a code.
//!
//! Administrators write the title and the text; the issuer numbers the versions.
//! Any change of the title or the text is a new version, which every user is asked
//! to accept again; writing the same words again keeps the version. Numbers are
//! never reused: an app remembers the last number it gave
//! ([`super::app::AppRecord::consent_policy_versions`]), so a policy removed and
//! set again continues the count, and an acceptance of an older text never counts
//! for a newer one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::Fields;
use crate::types::UnixTime;

/// The longest title, in characters.
pub const MAX_TITLE: usize = 120;
/// The longest text, in characters (the management API's bodies are at most 64 KiB).
pub const MAX_TEXT: usize = 20_000;

/// A consent policy as the app record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentPolicy {
    /// The page's heading, e.g. "Terms of use".
    pub title: String,
    /// The policy in Markdown (CommonMark); raw HTML in it is shown as text.
    pub text: String,
    /// Assigned by the issuer: 1 for the first text, one more on every change.
    pub version: u64,
    /// When this version was written.
    pub updated_at: UnixTime,
}

/// Takes the `consent_policy` field: `None` when absent or `null` (no policy).
/// `current` is the app's policy before the write and `last_version` the last
/// version number the app gave; the result carries its version.
pub(crate) fn take(
    fields: &mut Fields,
    current: Option<&ConsentPolicy>,
    last_version: u64,
    now: UnixTime,
) -> Option<ConsentPolicy> {
    let body: Map<String, Value> = fields.take("consent_policy", "an object or null")?;
    let mut inner = Fields::new(body);
    let title: Option<String> = inner.take("title", "a string");
    match title.as_deref().map(str::trim) {
        None => inner.error("/title", "is required"),
        Some(t) if t.is_empty() || t.chars().count() > MAX_TITLE => {
            inner.error("/title", format!("must be 1 to {MAX_TITLE} characters"));
        }
        Some(_) => {}
    }
    let text: Option<String> = inner.take("text", "a string of Markdown");
    match text.as_deref() {
        None => inner.error("/text", "is required"),
        Some(t) if t.trim().is_empty() => inner.error("/text", "must not be empty"),
        Some(t) if t.chars().count() > MAX_TEXT => {
            inner.error("/text", format!("must be at most {MAX_TEXT} characters"));
        }
        Some(_) => {}
    }
    let current_view = current.and_then(|c| serde_json::to_value(c).ok());
    inner.read_only_from(&["version", "updated_at"], current_view.as_ref());
    if let Err(errors) = inner.finish() {
        for error in errors {
            fields.error(format!("/consent_policy{}", error.pointer), error.detail);
        }
        return None;
    }
    let (title, text) = (title.unwrap_or_default().trim().to_owned(), text.unwrap_or_default());
    match current {
        Some(c) if c.title == title && c.text == text => Some(c.clone()),
        _ => Some(ConsentPolicy {
            title,
            text,
            version: last_version.max(current.map_or(0, |c| c.version)).saturating_add(1),
            updated_at: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        body: Value,
        current: Option<&ConsentPolicy>,
        last: u64,
    ) -> (Option<ConsentPolicy>, Vec<String>) {
        let Value::Object(map) = json!({ "consent_policy": body }) else { unreachable!() };
        let mut fields = Fields::new(map);
        let policy = take(&mut fields, current, last, UnixTime::from_secs(50));
        let errors = fields.finish().err().unwrap_or_default();
        (policy, errors.into_iter().map(|e| format!("{} {}", e.pointer, e.detail)).collect())
    }

    #[test]
    fn versions_are_assigned_and_grow_only_when_the_words_change() {
        let (first, errors) = run(json!({ "title": " Terms ", "text": "# Hi" }), None, 0);
        let first = first.unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((first.title.as_str(), first.version), ("Terms", 1));
        assert_eq!(first.updated_at, UnixTime::from_secs(50));

        let view = serde_json::to_value(&first).unwrap();
        let (same, errors) = run(view, Some(&first), 1);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(same.unwrap(), first);

        let (changed, _) = run(json!({ "title": "Terms", "text": "# Hello" }), Some(&first), 1);
        assert_eq!(changed.unwrap().version, 2);
        // Removed at version 4 and set again: the count goes on.
        let (again, _) = run(json!({ "title": "Terms", "text": "# Hi" }), None, 4);
        assert_eq!(again.unwrap().version, 5);
    }

    #[test]
    fn bad_policies_name_their_field() {
        let (_, errors) = run(json!({ "title": "", "text": "  \n" }), None, 0);
        assert_eq!(
            errors,
            [
                "/consent_policy/title must be 1 to 120 characters",
                "/consent_policy/text must not be empty"
            ]
        );
        let long = "x".repeat(MAX_TEXT + 1);
        let (_, errors) = run(json!({ "title": "T", "text": long, "color": 1 }), None, 0);
        assert_eq!(
            errors,
            [
                "/consent_policy/text must be at most 20000 characters",
                "/consent_policy/color is not a known field"
            ]
        );
        let (_, errors) = run(json!({ "title": "T", "text": "x", "version": 9 }), None, 0);
        assert_eq!(errors, ["/consent_policy/version is read-only"]);
        let (_, errors) = run(json!("terms"), None, 0);
        assert_eq!(errors, ["/consent_policy must be an object or null"]);
        let (none, errors) = run(Value::Null, None, 3);
        assert!(none.is_none() && errors.is_empty());
    }
}
