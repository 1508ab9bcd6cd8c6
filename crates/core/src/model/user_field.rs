//! Custom user fields: the attributes an administrator adds to users beyond the
//! OpenID Connect standard claims (a department, a customer number, a birthday of
//! a pet), each with a type, a default "required", validation bounds and
//! localized labels for the registration page.
//!
//! The definitions are one directory record (`user-fields`, like an app's
//! permissions), so a change is one atomic write and a page or a user write
//! reads one key. A user's values live on the user record (`fields`), checked
//! against the definitions when written. Deleting a definition leaves the values
//! users hold in place but unused: they are no longer shown, validated or put in
//! tokens, and the next write of such a user drops them; a new definition of the
//! same key sees them again only if they still fit its type.
//!
//! Validation is by type and bounds (`min_length`/`max_length` for strings,
//! `min`/`max` for numbers, `options` for enums); there are no regular
//! expressions, which would cost the issuer more than they give.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields};
use crate::types::UnixTime;

/// At most this many field definitions.
pub const MAX_USER_FIELDS: usize = 50;
/// The longest key (bytes).
pub const MAX_KEY: usize = 40;
/// The longest string value a field may hold (characters), and its default bound.
pub const MAX_STRING: usize = 1024;
/// At most this many options of an enum field, each at most [`MAX_OPTION`] characters.
pub const MAX_OPTIONS: usize = 50;
/// The longest enum option.
pub const MAX_OPTION: usize = 64;
/// The longest label (characters).
pub const MAX_LABEL: usize = 80;

/// Names a custom field can never take: the standard claims (OpenID Connect Core
/// section 5.1) and the claims tokens carry, and the user record's own fields.
const RESERVED: &[&str] = &[
    "id",
    "username",
    "password",
    "password_hash",
    "enabled",
    "fields",
    "mfa",
    "mfa_required",
    "has_password",
    "created_at",
    "consent_policies",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An ISO 8601 calendar date, `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Enum,
}

/// One custom field, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserField {
    /// The key: lowercase letters, digits and underscore, starting with a letter.
    pub key: String,
    /// The type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether a registration page that shows it requires it, unless the app says.
    pub required: bool,
    /// Strings: the fewest characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Strings: the most characters (at most 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Numbers: the smallest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Numbers: the largest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Enums: the values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The label on the registration page, by language tag (`en`, `de`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A scope that releases the field as a claim under its key, in the ID token
    /// and from userinfo, when a grant holds it ([`UserFieldSet::released`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// Every definition, stored as one record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserFieldSet {
    /// The definitions, in creation order (the order pages show them in).
    pub items: Vec<UserField>,
}

impl UserFieldSet {
    /// The definition of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&UserField> {
        self.items.iter().find(|f| f.key == key)
    }

    /// Checks a user's `fields` object: every key defined, every value of its
    /// type and within its bounds. Errors point at `/fields/<key>`.
    ///
    /// # Errors
    ///
    /// Each failing value.
    pub fn check_values(&self, values: &Map<String, Value>) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = values
            .iter()
            .filter_map(|(key, value)| {
                let pointer = format!("/fields/{}", super::fields::escape_pointer(key));
                let why = match self.get(key) {
                    None => "is not a defined user field".to_owned(),
                    Some(field) => field.check(value).err()?,
                };
                Some(FieldError::new(pointer, why))
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The values of `stored` that are still defined and still fit their
    /// definition (a deleted or retyped field's values are dropped).
    #[must_use]
    pub fn keep_defined(&self, stored: &Map<String, Value>) -> Map<String, Value> {
        stored
            .iter()
            .filter(|(key, value)| self.get(key).is_some_and(|f| f.check(value).is_ok()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The values of `stored` released as claims by the granted scopes: those
    /// of fields whose `scope` `granted` holds (and that still fit their
    /// definition), as the ID token and userinfo release standard claims.
    #[must_use]
    pub fn released(
        &self,
        granted: impl Fn(&str) -> bool,
        stored: &Map<String, Value>,
    ) -> Map<String, Value> {
        self.items
            .iter()
            .filter(|f| f.scope.as_deref().is_some_and(&granted))
            .filter_map(|f| {
                let value = stored.get(&f.key).filter(|v| f.check(v).is_ok())?;
                Some((f.key.clone(), value.clone()))
            })
            .collect()
    }
}

impl UserField {
    /// Whether `value` is of this field's type and within its bounds.
    ///
    /// # Errors
    ///
    /// Why not, as a message for a problem detail or a page.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        match self.field_type {
            FieldType::String => {
                let text = value.as_str().ok_or("must be a string")?;
                let n = text.chars().count();
                let min = self.min_length.unwrap_or(0) as usize;
                let max = self.max_length.map_or(MAX_STRING, |m| m as usize);
                if n < min || n > max {
                    return Err(format!("must be {min} to {max} characters"));
                }
                if text.chars().any(char::is_control) {
                    return Err("must not hold control characters".into());
                }
                Ok(())
            }
            FieldType::Number => {
                let n = value.as_f64().ok_or("must be a number")?;
                if self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max) {
                    // Numbers are written by serde_json (ryu): core's float
                    // formatting would cost the issuer tens of kilobytes.
                    let show = |x: Option<f64>| {
                        x.and_then(serde_json::Number::from_f64).map(|n| n.to_string())
                    };
                    return Err(match (show(self.min), show(self.max)) {
                        (Some(min), Some(max)) => format!("must be from {min} to {max}"),
                        (Some(min), None) => format!("must be at least {min}"),
                        (_, max) => format!("must be at most {}", max.unwrap_or_default()),
                    });
                }
                Ok(())
            }
            FieldType::Boolean => {
                value.as_bool().map(|_| ()).ok_or_else(|| "must be a boolean".into())
            }
            FieldType::Date => {
                if value.as_str().is_some_and(is_calendar_date) {
                    Ok(())
                } else {
                    Err("must be a date, YYYY-MM-DD".into())
                }
            }
            FieldType::Enum => match value.as_str() {
                Some(v) if self.options.iter().any(|o| o == v) => Ok(()),
                _ => Err(format!("must be one of {}", self.options.join(", "))),
            },
        }
    }

    /// The label in `tag`'s language, else English, else any, else the key.
    #[must_use]
    pub fn label(&self, tag: &str) -> &str {
        self.labels
            .get(tag)
            .or_else(|| self.labels.get("en"))
            .or_else(|| self.labels.values().next())
            .map_or(self.key.as_str(), String::as_str)
    }

    /// Reads a value typed on a form: text as the type wants it (`None`: empty).
    ///
    /// # Errors
    ///
    /// Why the text is not a value of the field.
    pub fn parse_form(&self, text: &str) -> Result<Option<Value>, String> {
        let text = text.trim();
        let value = match self.field_type {
            FieldType::Boolean => return Ok(Some(json!(matches!(text, "on" | "true" | "1")))),
            _ if text.is_empty() => return Ok(None),
            FieldType::Number => {
                // serde_json's number parser: core's float parsing would cost the
                // issuer tens of kilobytes.
                let n: serde_json::Number =
                    serde_json::from_str(text).map_err(|_| "must be a number".to_owned())?;
                Value::Number(n)
            }
            _ => json!(text),
        };
        self.check(&value).map(|()| Some(value))
    }

    /// The view the management API shows.
    #[must_use]
    pub fn view(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `YYYY-MM-DD` with a month 1 to 12 and a day that month has.
#[must_use]
pub fn is_calendar_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return false;
    }
    let number = |range: std::ops::Range<usize>| {
        text.get(range).filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?.parse::<u32>().ok()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// A field key: a lowercase letter, then lowercase letters, digits and
/// underscore, at most [`MAX_KEY`] bytes, and no standard, token or account name.
///
/// # Errors
///
/// Why not.
pub fn check_key(key: &str) -> Result<(), &'static str> {
    let mut bytes = key.bytes();
    let first = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if !first
        || key.len() > MAX_KEY
        || !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(
            "must be 1 to 40 lowercase letters, digits and underscores, starting with a letter",
        );
    }
    if RESERVED.contains(&key) || crate::token::is_protected(key) {
        return Err("is a standard claim, a token claim or a user field the issuer defines");
    }
    Ok(())
}

/// Validates a definition from a creation body (`current` is `None`) or an update
/// merged onto the current view (`key`, `type`, `created_at` and `updated_at`
/// are then read-only: a field that changes type is a new field).
///
/// # Errors
///
/// Every failing field, by JSON pointer.
pub fn validate(
    body: Map<String, Value>,
    current: Option<&UserField>,
    now: UnixTime,
) -> Result<UserField, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let view = current.map(UserField::view);
    let read_only: &[&str] = if current.is_some() {
        &["key", "type", "created_at", "updated_at"]
    } else {
        &["created_at", "updated_at"]
    };
    fields.read_only_from(read_only, view.as_ref());
    let key = match current {
        Some(c) => Some(c.key.clone()),
        None => {
            let key: Option<String> = fields.take("key", "a string");
            match key.as_deref().map(check_key) {
                None => fields.error("/key", "is required"),
                Some(Err(why)) => fields.error("/key", why),
                Some(Ok(())) => {}
            }
            key
        }
    };
    let field_type = match current {
        Some(c) => Some(c.field_type),
        None => {
            let t = fields.take::<FieldType>("type", "one of string, number, boolean, date, enum");
            if t.is_none() && !fields.errors.iter().any(|e| e.pointer == "/type") {
                fields.error("/type", "is required");
            }
            t
        }
    };
    let required = fields.take("required", "a boolean").unwrap_or(false);
    let min_length: Option<u32> = fields.take("min_length", "a non-negative integer");
    let max_length: Option<u32> = fields.take("max_length", "a non-negative integer");
    let min: Option<f64> = fields.take("min", "a number");
    let max: Option<f64> = fields.take("max", "a number");
    let options: Vec<String> = fields.take("options", "an array of strings").unwrap_or_default();
    let labels: BTreeMap<String, String> =
        fields.take("labels", "an object of language tags to text").unwrap_or_default();
    let scope: Option<String> = fields.take("scope", "a string");

    let is = |t: FieldType| field_type == Some(t);
    for (name, set, applies, kind) in [
        ("min_length", min_length.is_some(), is(FieldType::String), "string"),
        ("max_length", max_length.is_some(), is(FieldType::String), "string"),
        ("min", min.is_some(), is(FieldType::Number), "number"),
        ("max", max.is_some(), is(FieldType::Number), "number"),
        ("options", !options.is_empty(), is(FieldType::Enum), "enum"),
    ] {
        if set && !applies && field_type.is_some() {
            fields.error(format!("/{name}"), format!("applies to {kind} fields only"));
        }
    }
    if max_length.is_some_and(|m| m as usize > MAX_STRING || m == 0) {
        fields.error("/max_length", format!("must be from 1 to {MAX_STRING}"));
    }
    if let (Some(lo), Some(hi)) = (min_length, max_length.or(Some(MAX_STRING as u32)))
        && lo > hi
    {
        fields.error("/min_length", "must not be greater than max_length");
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        fields.error("/min", "must not be greater than max");
    }
    if is(FieldType::Enum) {
        if options.is_empty() || options.len() > MAX_OPTIONS {
            fields.error("/options", format!("must list 1 to {MAX_OPTIONS} values"));
        }
        for (i, option) in options.iter().enumerate() {
            if option.is_empty() || option.chars().count() > MAX_OPTION {
                fields.error(
                    format!("/options/{i}"),
                    format!("must be 1 to {MAX_OPTION} characters"),
                );
            } else if options.iter().take(i).any(|o| o == option) {
                fields.error(format!("/options/{i}"), "is listed twice");
            }
        }
    }
    for (tag, label) in &labels {
        let pointer = format!("/labels/{}", super::fields::escape_pointer(tag));
        let tag_ok = (2..=8).contains(&tag.len())
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !tag_ok {
            fields.error(pointer, "keys must be language tags such as en or de-CH");
        } else if label.is_empty() || label.chars().count() > MAX_LABEL {
            fields.error(pointer, format!("must be 1 to {MAX_LABEL} characters"));
        }
    }
    if let Some(scope) = &scope
        && crate::types::ScopeSet::parse(scope).map_or(true, |s| s.iter().count() != 1)
    {
        fields.error("/scope", "must be one scope token");
    }
    fields.finish()?;
    match (key, field_type) {
        (Some(key), Some(field_type)) => Ok(UserField {
            key,
            field_type,
            required,
            min_length,
            max_length,
            min,
            max,
            options,
            labels,
            scope,
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
        }),
        _ => Err(vec![FieldError::new("", "is not a valid user field")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: Value) -> Result<UserField, Vec<String>> {
        let Value::Object(map) = body else { unreachable!() };
        validate(map, None, UnixTime::from_secs(1))
            .map_err(|e| e.into_iter().map(|e| e.pointer).collect())
    }

    #[test]
    fn keys_are_claim_safe_and_never_standard() {
        assert!(check_key("department").is_ok());
        assert!(check_key("pet_birthday2").is_ok());
        for bad in ["", "Department", "2nd", "dept-name", "email", "sub", "roles", "username"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_key(&"a".repeat(41)).is_err());
    }

    #[test]
    fn definitions_are_checked_by_type() {
        let ok = field(json!({"key": "tier", "type": "enum", "options": ["gold", "silver"]}));
        assert_eq!(ok.unwrap().options, ["gold", "silver"]);
        assert_eq!(field(json!({"key": "tier", "type": "enum"})).unwrap_err(), ["/options"]);
        assert_eq!(
            field(json!({"key": "n", "type": "number", "min_length": 3})).unwrap_err(),
            ["/min_length"]
        );
        assert_eq!(
            field(json!({"key": "n", "type": "number", "min": 5, "max": 1})).unwrap_err(),
            ["/min"]
        );
        assert_eq!(field(json!({"key": "email", "type": "string"})).unwrap_err(), ["/key"]);
        assert_eq!(field(json!({"key": "x", "type": "text"})).unwrap_err(), ["/type"]);
        assert_eq!(field(json!({"key": "x"})).unwrap_err(), ["/type"]);
        assert_eq!(
            field(json!({"key": "x", "type": "string", "labels": {"e n": "X"}})).unwrap_err(),
            ["/labels/e n"]
        );
        assert_eq!(
            field(json!({"key": "x", "type": "string", "extra": 1})).unwrap_err(),
            ["/extra"]
        );
        assert_eq!(
            field(json!({"key": "x", "type": "string", "scope": "a b"})).unwrap_err(),
            ["/scope"]
        );
    }

    #[test]
    fn values_are_checked_against_their_definition() {
        let string =
            field(json!({"key": "s", "type": "string", "min_length": 2, "max_length": 4})).unwrap();
        assert!(string.check(&json!("abc")).is_ok());
        assert!(string.check(&json!("a")).is_err());
        assert!(string.check(&json!("abcde")).is_err());
        assert!(string.check(&json!(3)).is_err());
        let number = field(json!({"key": "n", "type": "number", "min": 0, "max": 10})).unwrap();
        assert!(number.check(&json!(7.5)).is_ok());
        assert_eq!(number.check(&json!(11)).unwrap_err(), "must be from 0.0 to 10.0");
        let date = field(json!({"key": "d", "type": "date"})).unwrap();
        assert!(date.check(&json!("2024-02-29")).is_ok());
        assert!(date.check(&json!("2023-02-29")).is_err());
        assert!(date.check(&json!("2024-2-1")).is_err());
        let boolean = field(json!({"key": "b", "type": "boolean"})).unwrap();
        assert!(boolean.check(&json!(true)).is_ok() && boolean.check(&json!("true")).is_err());
        let set = UserFieldSet { items: vec![string, number, date, boolean] };
        let Value::Object(values) = json!({"s": "abc", "n": 99, "zz": 1}) else { unreachable!() };
        let pointers: Vec<String> =
            set.check_values(&values).unwrap_err().into_iter().map(|e| e.pointer).collect();
        assert_eq!(pointers, ["/fields/n", "/fields/zz"]);
        assert_eq!(Value::Object(set.keep_defined(&values)), json!({"s": "abc"}));
    }

    #[test]
    fn a_field_with_a_scope_is_released_only_when_it_is_granted() {
        let scoped = field(json!({"key": "tier", "type": "string", "scope": "crm"})).unwrap();
        let plain = field(json!({"key": "dept", "type": "string"})).unwrap();
        let set = UserFieldSet { items: vec![scoped, plain] };
        let Value::Object(values) = json!({"tier": "gold", "dept": "Navy"}) else { unreachable!() };
        assert_eq!(Value::Object(set.released(|s| s == "crm", &values)), json!({"tier": "gold"}));
        assert!(set.released(|s| s == "profile", &values).is_empty());
        let Value::Object(unfit) = json!({"tier": 3}) else { unreachable!() };
        assert!(set.released(|s| s == "crm", &unfit).is_empty(), "a value that no longer fits");
    }

    #[test]
    fn form_text_becomes_a_typed_value() {
        let number = field(json!({"key": "n", "type": "number", "max": 10})).unwrap();
        assert_eq!(number.parse_form(" 7 "), Ok(Some(json!(7))));
        assert_eq!(number.parse_form(""), Ok(None));
        assert!(number.parse_form("seven").is_err());
        assert!(number.parse_form("70").is_err());
        let boolean = field(json!({"key": "b", "type": "boolean"})).unwrap();
        assert_eq!(boolean.parse_form("on"), Ok(Some(json!(true))));
        assert_eq!(boolean.parse_form(""), Ok(Some(json!(false))));
        let labelled =
            field(json!({"key": "b", "type": "boolean", "labels": {"de": "Ja"}})).unwrap();
        assert_eq!(labelled.label("fr"), "Ja");
        assert_eq!(number.label("fr"), "n");
    }
}
