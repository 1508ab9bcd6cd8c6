//! Which API an access token is for (RFC 8707, RFC 9068 section 3).
//!
//! Every scope belongs to one audience: a custom scope to the resource its record
//! names, a `gatehouse:*` scope to the management API (`{ISSUER}/admin/v1`), and any
//! other scope to the issuer's default audience (the issuer identifier, RFC 9068
//! section 3: "a default resource indicator"). A token carries the scopes of one
//! audience only, so a token for one API is refused by every other API.
//!
//! - With `resource`, the token is for that resource: it must be registered (or be
//!   the management API) and the client must hold a scope of it, else
//!   `invalid_target`; requested scopes it does not own are `invalid_scope`;
//!   without `scope`, the client's scopes of that resource are granted.
//! - Without `resource`, the requested scopes (or, without `scope`, every scope
//!   the client holds) must share one audience; scopes of two are `invalid_scope`.

use crate::client_auth::AuthenticatedClient;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::Form;
use crate::jose::Algorithm;
use crate::model::app::AppRecord;
use crate::model::resource::{ResourceRecord, lookup, management_identifier};
use crate::model::scope::{OIDC_SCOPES, ScopeRecord, SecurityLevel};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Directory, StoreError, read_record};
use crate::types::{ClientId, ResourceIndicator, Scope, ScopeSet, UnixTime};

/// What a token grant is for: its audience, its scopes, and how it is minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The `aud` claim.
    pub(crate) audience: String,
    /// The granted scopes.
    pub(crate) scope: ScopeSet,
    /// Access token lifetime (seconds).
    pub(crate) lifetime: u64,
    /// Access token signing algorithm.
    pub(crate) alg: Algorithm,
}

/// The audience a scope belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// The management API.
    Management,
    /// A registered resource, by identifier.
    Resource(String),
    /// No resource: the issuer's default audience.
    Default,
}

/// What the token endpoint knows of one scope.
struct ScopeFacts {
    owner: Owner,
    /// Open to every app (a public custom scope) rather than only to apps granted it.
    public: bool,
}

/// Decides the audience, scopes, lifetime and algorithm of a client's token from the
/// request's `scope` and `resource` parameters.
///
/// # Errors
///
/// `invalid_scope`, `invalid_target` as described in the module docs;
/// `temporarily_unavailable` / `server_error` when the directory fails.
pub(crate) async fn decide<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    now: UnixTime,
) -> Result<Grant, OAuthError> {
    decide_for(engine, client, form.get("scope"), form.get("resource"), now).await
}

/// A user's grant to an interactive app, from the authorization request's `scope`
/// (default `openid`) and `resource`: the OpenID Connect scopes are the user's to
/// give (and need no resource: they ride along in any token, whose audiences then
/// include the issuer, for `userinfo`); the others are decided as for the client
/// itself. `offline_access` is dropped when the app issues no refresh tokens.
/// Returns the scopes, the audiences, and the access token's lifetime and algorithm.
///
/// # Errors
///
/// As [`decide`].
pub(crate) async fn for_user<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    scope: Option<&str>,
    resource: Option<&str>,
    now: UnixTime,
) -> Result<(ScopeSet, Vec<String>, u64, Algorithm), OAuthError> {
    let requested = ScopeSet::parse(scope.unwrap_or("openid"))
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
    let (identity, api): (Vec<Scope>, Vec<Scope>) =
        requested.iter().cloned().partition(|s| OIDC_SCOPES.contains(&s.as_str()));
    let mut identity: ScopeSet = identity.into_iter().collect();
    if !app.refresh_tokens {
        identity = identity.iter().filter(|s| s.as_str() != "offline_access").cloned().collect();
    }
    let client_id =
        ClientId::new(app.client_id.as_str()).map_err(|_| OAuthError::server_error())?;
    let client = AuthenticatedClient::for_app(client_id, app);
    let issuer = engine.config().issuer.as_str().to_owned();
    if api.is_empty() && resource.is_none() {
        return Ok((identity, vec![issuer], client.access_token_lifetime, client.access_token_alg));
    }
    let api_scope = api.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ");
    let api_scope = (!api_scope.is_empty()).then_some(api_scope.as_str());
    let grant = if api_scope.is_none() {
        // Only a resource: the client's scopes of it, as without `scope`.
        decide_for(engine, &client, None, resource, now).await?
    } else {
        decide_for(engine, &client, api_scope, resource, now).await?
    };
    let mut audience = vec![grant.audience];
    if !identity.is_empty() && !audience.contains(&issuer) {
        audience.push(issuer);
    }
    let scope = identity.iter().chain(grant.scope.iter()).cloned().collect();
    Ok((scope, audience, grant.lifetime, grant.alg))
}

/// [`decide`] on the raw `scope` and `resource` values.
async fn decide_for<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    scope: Option<&str>,
    resource: Option<&str>,
    now: UnixTime,
) -> Result<Grant, OAuthError> {
    let requested = match scope {
        None => None,
        Some(raw) => Some(
            ScopeSet::parse(raw)
                .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?,
        ),
    };
    let target = match resource {
        None => None,
        Some(raw) => Some(ResourceIndicator::new(raw).map_err(|_| {
            OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource must be an absolute uri without fragment or query",
            )
        })?),
    };
    let management = management_identifier(engine.config());
    let directory = &engine.cached_directory(now);

    // The scopes in play: those requested, or every scope the client holds.
    let candidates: Vec<Scope> = match &requested {
        Some(set) => set.iter().cloned().collect(),
        None => client.scopes.iter().cloned().collect(),
    };
    let mut facts = Vec::with_capacity(candidates.len());
    for scope in candidates {
        let found = scope_facts(directory, &scope).await.map_err(|e| store_error(&e))?;
        facts.push((scope, found));
    }
    if requested.is_some()
        && facts.iter().any(|(scope, f)| !f.public && !client.scopes.contains(scope.as_str()))
    {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope not allowed for this client"));
    }

    let (owner, resource, scope) = match target {
        Some(target) => {
            let (owner, resource) = if target.as_str() == management {
                (Owner::Management, None)
            } else {
                let record =
                    lookup(directory, target.as_str()).await.map_err(|e| store_error(&e))?;
                let Some(record) = record else {
                    return Err(OAuthError::new(ErrorCode::InvalidTarget, "unknown resource"));
                };
                (Owner::Resource(record.identifier.as_str().to_owned()), Some(record))
            };
            if requested.is_some() && facts.iter().any(|(_, f)| f.owner != owner) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a requested scope does not belong to the requested resource",
                ));
            }
            let scope: ScopeSet =
                facts.into_iter().filter(|(_, f)| f.owner == owner).map(|(s, _)| s).collect();
            // The client may use a resource when it holds one of its scopes (or asked
            // for a public one of them).
            if scope.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "the client holds no scope of this resource",
                ));
            }
            (owner, resource, scope)
        }
        None => {
            let mut owners = facts.iter().map(|(_, f)| &f.owner);
            let owner = owners.next().cloned().unwrap_or(Owner::Default);
            if owners.any(|o| *o != owner) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    if requested.is_some() {
                        "the requested scopes belong to different resources; request one \
                         resource at a time"
                    } else {
                        "the client's scopes belong to different resources; name one with \
                         the resource parameter or request its scopes"
                    },
                ));
            }
            let resource = match &owner {
                Owner::Resource(id) => Some(
                    lookup(directory, id).await.map_err(|e| store_error(&e))?.ok_or_else(|| {
                        // A scope names a resource the directory no longer holds.
                        OAuthError::new(ErrorCode::InvalidScope, "the scope's resource is gone")
                    })?,
                ),
                _ => None,
            };
            let scope: ScopeSet = facts.into_iter().map(|(s, _)| s).collect();
            (owner, resource, scope)
        }
    };
    let audience = match owner {
        Owner::Management => management,
        Owner::Resource(id) => id,
        Owner::Default => engine.config().issuer.as_str().to_owned(),
    };
    let resource: Option<&ResourceRecord> = resource.as_ref();
    Ok(Grant {
        audience,
        scope,
        lifetime: resource
            .and_then(|r| r.access_token_lifetime)
            .unwrap_or(client.access_token_lifetime),
        alg: resource
            .and_then(|r| r.access_token_signed_response_alg)
            .unwrap_or(client.access_token_alg),
    })
}

/// The audience and openness of `scope`: management scopes belong to the management
/// API and are never public; a custom scope's record says; anything else (an
/// unknown scope, the OpenID Connect scopes) has the default audience and is open
/// only to clients granted it.
async fn scope_facts<D: Directory>(directory: &D, scope: &Scope) -> Result<ScopeFacts, StoreError> {
    let key = scope.as_str();
    if key.starts_with("gatehouse:") {
        return Ok(ScopeFacts { owner: Owner::Management, public: false });
    }
    let record: Option<ScopeRecord> = read_record(directory, &schema::scope(key)).await?;
    Ok(match record {
        Some(record) => ScopeFacts {
            owner: record
                .resource
                .map_or(Owner::Default, |r| Owner::Resource(r.as_str().to_owned())),
            public: record.security_level == SecurityLevel::Public,
        },
        None => ScopeFacts { owner: Owner::Default, public: false },
    })
}
