//! What a grant issues, and minting it: shared by every grant.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::admission::{admitted, not_admitted};
use super::request::RequestedClaims;
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::jose::Algorithm;
use crate::model::app::AppRecord;
use crate::model::role::{PermissionSet, RoleRecord};
use crate::model::token_claims::{TokenKind, for_token};
use crate::model::user::UserRecord;
use crate::platform::Platform;
use crate::store::read_record;
use crate::store::schema;
use crate::token::{
    AccessTokenClaims, Audience, WithAccess, mint_access_token, mint_access_token_with,
    mint_id_token, random_id, released_claims, user_claims,
};
use crate::types::{ScopeSet, UnixTime};
use crate::verify::half_hash;

/// What a grant issues: an access token, and for a user an ID token and a
/// refresh token where they apply.
pub(crate) struct Issued {
    /// The access token.
    pub(crate) access_token: String,
    /// Its lifetime in seconds.
    pub(crate) expires_in: u64,
    /// The scope it carries.
    pub(crate) scope: ScopeSet,
    /// The ID token, when `openid` was granted.
    pub(crate) id_token: Option<String>,
    /// The refresh token, when one was issued.
    pub(crate) refresh_token: Option<String>,
}

/// The additional claims `app` puts in a token of `kind` (its `token_claims`), with
/// the user's claims when there is a user.
pub(crate) fn extra_claims(
    app: &AppRecord,
    kind: TokenKind,
    user: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    for_token(&app.token_claims, kind, user).map(|(n, v)| (n.to_owned(), v.clone())).collect()
}

/// The user's custom field values a grant uses: `available` (a user's standard
/// claims) with the values of fields still defined, for the app's
/// `token_claims`; and the values the granted `scope` releases into the ID token
/// ([`crate::model::user_field::UserFieldSet::released`]). The definitions are
/// read only for a user holding values, and only when the app's `token_claims`
/// name a custom field or an ID token is minted. Custom keys never collide with
/// standard claims ([`crate::model::user_field::check_key`]).
async fn custom_fields<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    scope: &ScopeSet,
    available: &Map<String, Value>,
    cx: &Context<'_>,
) -> Result<(Map<String, Value>, Map<String, Value>), OAuthError> {
    let named = app
        .token_claims
        .iter()
        .any(|c| c.field.as_deref().is_some_and(crate::model::token_claims::is_custom_field));
    let mut out = available.clone();
    let mut released = Map::new();
    if !user.fields.is_empty() && (named || scope.contains("openid")) {
        let set: Option<crate::model::user_field::UserFieldSet> =
            read_record(&engine.cached_directory(cx.now()), schema::USER_FIELDS)
                .await
                .map_err(|e| store_error(&e))?;
        let set = set.unwrap_or_default();
        if named {
            out.extend(set.keep_defined(&user.fields));
        }
        released = set.released(|s| scope.contains(s), &user.fields);
    }
    Ok((out, released))
}

/// An access token for `subject` of `client`, for one audience.
pub(crate) struct AccessGrant<'a> {
    /// The user, or the client itself for client credentials.
    pub(crate) subject: &'a str,
    /// The `aud`: the resource the token is for (and the issuer, for userinfo).
    pub(crate) audience: Vec<String>,
    /// The scope it carries.
    pub(crate) scope: ScopeSet,
    /// Its lifetime in seconds.
    pub(crate) lifetime: u64,
    /// The signing algorithm.
    pub(crate) alg: Algorithm,
    /// The user's permission names (for this app) and role names, when the app
    /// puts them in its tokens.
    pub(crate) access: UserAccess,
}

/// What an access token says beyond RFC 9068: a user's permissions for one app and
/// roles, by name, the claims `/userinfo` is asked for, and the app's additional
/// claims (`token_claims`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserAccess {
    pub(crate) permissions: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) userinfo_claims: Vec<String>,
    pub(crate) claims: Map<String, Value>,
}

/// Mints the access token of `grant` for `client`.
pub(crate) async fn access_token<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    grant: AccessGrant<'_>,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let now = cx.now();
    let config = engine.config();
    let ring = engine.keyring(now).await?;
    let key =
        ring.signing_key(grant.alg, now, &config.kek).map_err(|_| OAuthError::server_error())?;
    let claims = AccessTokenClaims {
        iss: config.issuer.as_str().to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::many(grant.audience),
        exp: now.plus(grant.lifetime),
        iat: now,
        jti: random_id(cx.rng(), 16),
        client_id: client.client_id.as_str().to_owned(),
        scope: grant.scope.clone(),
    };
    let crypto = engine.platform().crypto();
    let minted = if grant.access == UserAccess::default() {
        mint_access_token(crypto, &key, &claims).await
    } else {
        let with = WithAccess {
            claims: &claims,
            permissions: &grant.access.permissions,
            roles: &grant.access.roles,
            userinfo_claims: &grant.access.userinfo_claims,
            extra: &grant.access.claims,
        };
        mint_access_token_with(crypto, &key, &with).await
    };
    let access_token = minted.map_err(|_| OAuthError::server_error())?;
    Ok(Issued {
        access_token,
        expires_in: grant.lifetime,
        scope: grant.scope,
        id_token: None,
        refresh_token: None,
    })
}

/// What a user granted an app: carried by an authorization code and kept by the
/// refresh family it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserGrant {
    pub(crate) user_id: String,
    pub(crate) scope: ScopeSet,
    pub(crate) audience: Vec<String>,
    pub(crate) access_lifetime: u64,
    pub(crate) access_alg: Algorithm,
    pub(crate) auth_time: UnixTime,
    pub(crate) amr: Vec<String>,
    pub(crate) sid: String,
    pub(crate) claims: RequestedClaims,
    /// When the refresh family holding this grant expires (set when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<UnixTime>,
}

/// The app behind a client: user grants are for registered apps only (the
/// bootstrap client has none).
pub(crate) fn app_of(client: &AuthenticatedClient) -> Result<std::rc::Rc<AppRecord>, OAuthError> {
    client.app.clone().ok_or_else(|| {
        OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant")
    })
}

/// The enabled user of a grant; a missing or disabled user is `invalid_grant`.
pub(crate) async fn grant_user<P: Platform>(
    engine: &Engine<P>,
    user_id: &str,
) -> Result<UserRecord, OAuthError> {
    read_record::<UserRecord, _>(engine.platform().directory(), &schema::user(user_id))
        .await
        .map_err(|e| store_error(&e))?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidGrant, "the user cannot sign in"))
}

/// What of the user's roles and permissions `app` puts in its access tokens
/// (`access_token_roles`, `access_token_permissions`): the names of the user's
/// roles, and of the app's permissions those roles hold (read by id from the app's
/// current permission set, so a renamed or deleted permission is never stale).
async fn user_access<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
) -> Result<UserAccess, OAuthError> {
    let mut access = UserAccess::default();
    if !app.access_token_permissions && !app.access_token_roles {
        return Ok(access);
    }
    let directory = engine.platform().directory();
    let mut held = Vec::new();
    for id in &user.roles {
        let role: Option<RoleRecord> =
            read_record(directory, &schema::role(id)).await.map_err(|e| store_error(&e))?;
        let Some(role) = role else { continue };
        if app.access_token_roles {
            access.roles.push(role.name);
        }
        held.extend(
            role.permissions.into_iter().filter(|p| p.client_id == app.client_id).map(|p| p.id),
        );
    }
    if app.access_token_permissions && !held.is_empty() {
        let set: Option<PermissionSet> =
            read_record(directory, &schema::permissions(&app.client_id))
                .await
                .map_err(|e| store_error(&e))?;
        for permission in set.map(|s| s.items).unwrap_or_default() {
            if held.contains(&permission.id) && !access.permissions.contains(&permission.name) {
                access.permissions.push(permission.name);
            }
        }
    }
    Ok(access)
}

/// Mints the access token and, with `openid`, the ID token of a user grant, for a
/// user who can still sign in and whom the app admits (its `allowed_roles`).
pub(crate) async fn for_user<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    app: &AppRecord,
    grant: &UserGrant,
    scope: ScopeSet,
    nonce: Option<&str>,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let user = grant_user(engine, &grant.user_id).await?;
    for_grant_user(engine, client, app, grant, &user, scope, nonce, cx).await
}

/// [`for_user`] with the grant's user already read (by [`grant_user`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn for_grant_user<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    app: &AppRecord,
    grant: &UserGrant,
    user: &UserRecord,
    scope: ScopeSet,
    nonce: Option<&str>,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    if !admitted(engine, app, user).await? {
        return Err(not_admitted(app, cx));
    }
    let mut held = user_access(engine, app, user).await?;
    if scope.contains("openid") {
        held.userinfo_claims.clone_from(&grant.claims.userinfo);
    }
    // The user's claims, read from the record already at hand: only when the app
    // adds claims (`token_claims`) or an ID token is minted.
    let available = if scope.contains("openid") || !app.token_claims.is_empty() {
        user_claims(user)
    } else {
        Map::new()
    };
    let (with_fields, scoped_fields) =
        custom_fields(engine, app, user, &scope, &available, cx).await?;
    held.claims = extra_claims(app, TokenKind::Access, Some(&with_fields));
    let access = AccessGrant {
        subject: &user.id,
        audience: grant.audience.clone(),
        scope: scope.clone(),
        lifetime: grant.access_lifetime,
        alg: grant.access_alg,
        access: held,
    };
    let mut issued = access_token(engine, client, access, cx).await?;
    if scope.contains("openid") {
        let now = cx.now();
        let alg = app.id_token_signed_response_alg;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(engine.config().issuer.as_str()));
        claims.insert("sub".into(), json!(user.id));
        claims.insert("aud".into(), json!(app.client_id));
        claims.insert("exp".into(), json!(now.plus(app.id_token_lifetime)));
        claims.insert("iat".into(), json!(now));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        claims.insert("azp".into(), json!(app.client_id));
        claims.insert("at_hash".into(), json!(half_hash(alg, &issued.access_token)));
        claims.insert("sid".into(), json!(grant.sid));
        claims.insert("amr".into(), json!(grant.amr));
        claims.insert("acr".into(), json!(crate::session::acr_of(&grant.amr)));
        let released: Map<String, Value> =
            released_claims(scope.iter().map(|s| s.as_str()), &grant.claims.id_token, &available);
        for (name, value) in released.into_iter().chain(scoped_fields) {
            claims.entry(name).or_insert(value);
        }
        for (name, value) in extra_claims(app, TokenKind::Id, Some(&with_fields)) {
            claims.entry(name).or_insert(value);
        }
        crate::hooks::call::before_id_token(engine, app, user, &scope.to_string(), &mut claims, cx)
            .await?;
        let ring = engine.keyring(now).await?;
        let key = ring
            .signing_key(alg, now, &engine.config().kek)
            .map_err(|_| OAuthError::server_error())?;
        issued.id_token = Some(
            mint_id_token(engine.platform().crypto(), &key, &claims)
                .await
                .map_err(|_| OAuthError::server_error())?,
        );
    }
    Ok(issued)
}
