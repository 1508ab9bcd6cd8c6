//! Reading a JSON object field by field, so every error names its field and every
//! unknown field is refused.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The fields of a request body, consumed one by one.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    pub(crate) errors: Vec<FieldError>,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self { map, errors: Vec::new() }
    }

    /// Takes `name` as a `T`; a wrong type is recorded as an error naming the field.
    /// `null` counts as absent.
    pub(crate) fn take<T: DeserializeOwned>(&mut self, name: &str, expected: &str) -> Option<T> {
        match self.map.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => match serde_json::from_value(value) {
                Ok(parsed) => Some(parsed),
                Err(_) => {
                    self.errors
                        .push(FieldError::new(format!("/{name}"), format!("must be {expected}")));
                    None
                }
            },
        }
    }

    /// Records an error at `pointer`.
    pub(crate) fn error(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, detail));
    }

    /// Removes a read-only field, refusing it unless it equals `current`.
    pub(crate) fn read_only(&mut self, name: &str, current: Option<&Value>) {
        if let Some(value) = self.map.remove(name)
            && current != Some(&value)
        {
            self.error(format!("/{name}"), "is read-only");
        }
    }

    /// Removes each of `names`, refusing any that differs from `current`'s value.
    pub(crate) fn read_only_from(&mut self, names: &[&str], current: Option<&Value>) {
        for name in names {
            self.read_only(name, current.and_then(|c| c.get(*name)));
        }
    }

    /// Takes a required free-text name of 1 to `max` characters.
    pub(crate) fn required_name(&mut self, name: &str, max: usize) -> Option<String> {
        let value: Option<String> = self.take(name, "a string");
        match value.as_deref() {
            None => self.error(format!("/{name}"), "is required"),
            Some(v) if v.is_empty() || v.chars().count() > max => {
                self.error(format!("/{name}"), format!("must be 1 to {max} characters"));
            }
            _ => {}
        }
        value
    }

    /// Ends reading: every field left over is unknown.
    pub(crate) fn finish(mut self) -> Result<(), Vec<FieldError>> {
        for name in std::mem::take(&mut self.map).keys() {
            self.errors.push(FieldError::new(
                format!("/{}", escape_pointer(name)),
                "is not a known field",
            ));
        }
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

/// Escapes a key for a JSON pointer (RFC 6901 section 3).
pub(crate) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Applies a JSON merge patch (RFC 7396) to `target`.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        // See: RFC 7396 appendix A.
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"a": ["b"]});
        merge_patch(&mut target, &json!({"a": "c"}));
        assert_eq!(target, json!({"a": "c"}));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let mut fields =
            Fields::new(json!({"n": "x", "extra/field": 1}).as_object().unwrap().clone());
        assert_eq!(fields.take::<u64>("n", "an integer"), None);
        let errors = fields.finish().unwrap_err();
        assert_eq!(errors[0].pointer, "/n");
        assert_eq!(errors[1].pointer, "/extra~1field");
    }
}

/// One failing field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A JSON pointer (RFC 6901) to the field, e.g. `/redirect_uris/0`.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

impl FieldError {
    /// A problem with the field at `pointer`.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), detail: detail.into() }
    }
}
