//! Resources: the APIs tokens are for. A resource's immutable identifier is the
//! `aud` of its tokens; it owns scopes; the management API is the built-in one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::app::{MAX_DESCRIPTION, TOKEN_LIFETIME};
use super::fields::{FieldError, Fields};
use crate::config::Config;
use crate::jose::Algorithm;
use crate::store::schema;
use crate::store::{Directory, StoreError};
use crate::types::{ResourceIndicator, UnixTime};

/// The identifier of the management API, the built-in resource: `{ISSUER}/admin/v1`.
/// Tokens for the management API carry it as `aud`.
#[must_use]
pub fn management_identifier(config: &Config) -> String {
    config.issuer.endpoint("/admin/v1")
}

/// A registered API as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// The identifier: the `aud` of its tokens and the `resource` parameter that
    /// names it. Cannot change.
    pub identifier: ResourceIndicator,
    /// Unique display name.
    pub name: String,
    /// Free text, up to 120 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Lifetime of access tokens for this resource (seconds); the app's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<u64>,
    /// Signing algorithm of access tokens for this resource; the app's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_signed_response_alg: Option<Algorithm>,
    /// Always `false` for stored resources; `true` on the listed management API.
    pub system: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// Validates a body into a record; `current` is the record being replaced with the
/// scopes it owns (read-only, so a body may only send them back unchanged).
pub(crate) fn validate(
    body: Map<String, Value>,
    current: Option<(&ResourceRecord, &[String])>,
    management: &str,
    now: UnixTime,
) -> Result<ResourceRecord, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let current_view = current.map(|(c, scopes)| with_scopes(c, scopes));
    let current = current.map(|(c, _)| c);
    fields.read_only_from(&["created_at", "updated_at", "system", "scopes"], current_view.as_ref());
    let raw: Option<String> = fields.take("identifier", "a string");
    let identifier = match (raw, current) {
        (Some(raw), Some(c)) if raw != c.identifier.as_str() => {
            fields.error("/identifier", "cannot change; create a new resource instead");
            None
        }
        (None, Some(c)) => Some(c.identifier.clone()),
        (None, None) => {
            fields.error("/identifier", "is required");
            None
        }
        (Some(raw), _) => match ResourceIndicator::new(&raw) {
            Ok(id) if id.as_str() == management => {
                fields.error("/identifier", "is the management API's identifier");
                None
            }
            Ok(id) => Some(id),
            Err(e) => {
                fields.error("/identifier", e.0);
                None
            }
        },
    };
    let name = fields.required_name("name", 64);
    let description: String = fields.take("description", "a string").unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        fields.error("/description", format!("must be at most {} characters", MAX_DESCRIPTION));
    }
    let lifetime: Option<u64> =
        fields.take("access_token_lifetime", "an integer number of seconds");
    let (min, max, _) = TOKEN_LIFETIME;
    if lifetime.is_some_and(|l| !(min..=max).contains(&l)) {
        fields.error("/access_token_lifetime", format!("must be between {min} and {max} seconds"));
    }
    let alg = fields.take("access_token_signed_response_alg", "ES256 or RS256");
    fields.finish()?;
    Ok(ResourceRecord {
        identifier: identifier
            .ok_or_else(|| vec![FieldError::new("/identifier", "is required")])?,
        name: name.unwrap_or_default(),
        description,
        access_token_lifetime: lifetime,
        access_token_signed_response_alg: alg,
        system: false,
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    })
}

pub(crate) fn with_scopes(record: &ResourceRecord, scopes: &[String]) -> Value {
    let mut view = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut view {
        map.insert("scopes".to_owned(), json!(scopes));
    }
    view
}

/// A resource as the token endpoint reads it from the directory (possibly stale
/// within the directory's bound).
///
/// # Errors
///
/// A store failure.
pub async fn lookup<D: Directory>(
    directory: &D,
    identifier: &str,
) -> Result<Option<ResourceRecord>, StoreError> {
    crate::store::read_record(directory, &schema::resource(identifier)).await
}
