//! Signing in through an upstream OpenID provider (OpenID Connect Core section 3.1,
//! as a relying party, with RFC 9700's PKCE and state): the login page's
//! "Continue with ..." buttons post to [`UPSTREAM_START_PATH`](crate::endpoints::UPSTREAM_START_PATH), which sends the
//! browser to the provider; the provider sends it back to
//! [`UPSTREAM_CALLBACK_PATH`], which redeems the code server to server, verifies
//! the ID token with the crate's own verifier, finds (or links, or creates) the
//! local user and goes on exactly as a password sign-in does (session, second
//! factor, consent policy, consent, `allowed_roles`).
//!
//! The pending sign-in (the sealed interaction, the provider, `nonce` and the PKCE
//! verifier) is a take-once record under the digest of `state`, so a callback
//! works once, and it is bound to the browser that started it by a cookie whose
//! digest it holds: a callback replayed in another browser, or a login CSRF
//! carrying the attacker's own `state`, finds no match.
//!
//! A user is found by the link (the provider's issuer and the upstream `sub`), a
//! unique name in the registry, so two first sign-ins cannot make two users for
//! one upstream account. Only if the app allows it is an upstream account linked
//! to the local user with the same email (and only when the upstream says the
//! email is verified), or a new user created from the mapped claims.

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::interaction::{Interaction, LoginForm, live_app, read_login_form, show_login};
use super::request::accept_language;
use super::respond::{error_page, expired, redirect, set_cookie, unavailable};
use super::steps::proceed;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::ErrorCode;
use crate::fetch::{Fetch, FetchUrl, Post, check_destination};
use crate::hooks::call::{AppHooks, SignInHooks};
use crate::http::{Request, Response, encode_pairs, parse_query};
use crate::jose::{Jwks, b64url, b64url_decode};
use crate::model::app::AppRecord;
use crate::model::provider::{ProviderRecord, UpstreamAuthMethod};
use crate::model::user::{Identity, UserRecord, check_mapped_claim, check_username};
use crate::pages::{Locale, LoginProblem};
use crate::platform::Platform;
use crate::session::{SESSION_COOKIE, SESSION_SECS};
use crate::store::schema;
use crate::store::{
    Commit, CommitError, Directory, Expect, OnceStore, Registry, Taken, UsageEvent, read_record,
};
use crate::token::random_id;
use crate::types::UnixTime;
use crate::verify::{IdTokenPolicy, VerifyError, verify_id_token};

pub(crate) use crate::endpoints::UPSTREAM_CALLBACK_PATH;

/// The authentication method of a federated sign-in (RFC 8176 has none; OpenID
/// Connect's `amr` values are open, `fed` is the common spelling).
pub(crate) const FED: &str = "fed";
/// The cookie binding a pending upstream sign-in to its browser.
const UPSTREAM_COOKIE: &str = "gatehouse-upstream";
/// How long the user has at the provider, in seconds.
const PENDING_SECS: u64 = 10 * 60;
/// How long the token endpoint of a provider may take, in milliseconds.
const EXCHANGE_TIMEOUT_MS: u32 = 5000;

/// An upstream sign-in in progress, stored take-once under its `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    interaction: Interaction,
    provider: String,
    nonce: String,
    verifier: String,
    /// The digest of the browser cookie's value.
    browser: String,
}

/// What the provider's discovery document says (OpenID Connect Discovery 1.0).
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The enabled provider `id`.
async fn load<P: Platform>(
    engine: &Engine<P>,
    id: &str,
    now: UnixTime,
) -> Result<Option<ProviderRecord>, crate::store::StoreError> {
    crate::model::provider::enabled(&engine.cached_directory(now), id).await
}

fn digest(value: &str) -> String {
    b64url(&Sha256::digest(value.as_bytes()))
}

/// The provider's discovery document, fetched (through the host's cache) and
/// checked: its `issuer` is the configured one exactly, and every endpoint is a
/// destination the fetch policy allows.
async fn discover<P: Platform>(
    engine: &Engine<P>,
    provider: &ProviderRecord,
    now: UnixTime,
) -> Result<Metadata, &'static str> {
    let policy = engine.config().fetch_policy;
    let url = provider.discovery_url.as_str();
    check_destination(url, policy)
        .map_err(|_| "the discovery url is not an allowed destination")?;
    let fetched = engine
        .platform()
        .fetch()
        .get(url, false, now)
        .await
        .map_err(|_| "the discovery document could not be fetched")?;
    if fetched.status != 200 {
        return Err("the discovery document did not answer 200");
    }
    let metadata: Metadata =
        serde_json::from_slice(&fetched.body).map_err(|_| "the discovery document is malformed")?;
    if metadata.issuer != provider.issuer {
        return Err("the discovery document names another issuer");
    }
    for endpoint in [&metadata.authorization_endpoint, &metadata.token_endpoint, &metadata.jwks_uri]
    {
        FetchUrl::new(endpoint, policy).map_err(|_| "an endpoint is not an allowed destination")?;
    }
    Ok(metadata)
}

/// `POST /upstream/start`: from the login page's button, sends the browser to the
/// provider with `state`, `nonce` and a PKCE S256 challenge.
pub(crate) async fn start<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let LoginForm { form, interaction, headers, locale, app } =
        match read_login_form(engine, &request, now).await {
            Ok(read) => read,
            Err(page) => return page,
        };
    let id = form.get("provider").unwrap_or_default();
    let provider = match load(engine, id, now).await {
        Ok(Some(p)) if app.allowed_providers.iter().any(|a| a == id) => p,
        Ok(_) => {
            cx.diagnose(format!(
                "upstream sign-in for client {:?}: provider {id:?} refused",
                app.client_id
            ));
            return error_page(
                ErrorCode::InvalidRequest,
                "this way of signing in is not available for this app",
                locale,
                StatusCode::BAD_REQUEST,
            );
        }
        Err(_) => return unavailable(locale),
    };
    let metadata = match discover(engine, &provider, now).await {
        Ok(metadata) => metadata,
        Err(why) => {
            cx.diagnose(format!("upstream provider {:?}: {why}", provider.id));
            return failed(engine, &app, interaction, headers, cx).await;
        }
    };
    let state = random_id(cx.rng(), 32);
    let browser = random_id(cx.rng(), 32);
    let pending = Pending {
        interaction,
        provider: provider.id.clone(),
        nonce: random_id(cx.rng(), 32),
        verifier: random_id(cx.rng(), 32),
        browser: digest(&browser),
    };
    let challenge = b64url(&Sha256::digest(pending.verifier.as_bytes()));
    let Ok(json) = serde_json::to_vec(&pending) else { return unavailable(locale) };
    let key = schema::upstream_state(&Sha256::digest(state.as_bytes()));
    if engine.platform().once().put(&key, &json, now.plus(PENDING_SECS), now).await.is_err() {
        return unavailable(locale);
    }
    let redirect_uri = engine.config().issuer.endpoint(UPSTREAM_CALLBACK_PATH);
    let scope = provider.scopes.join(" ");
    let query = encode_pairs([
        ("response_type", "code"),
        ("client_id", provider.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("ui_locales", locale.tag()),
    ]);
    let endpoint = &metadata.authorization_endpoint;
    let joiner = if endpoint.contains('?') { '&' } else { '?' };
    let mut response = redirect(&format!("{endpoint}{joiner}{query}"));
    set_cookie(
        &mut response,
        engine.cookie_policy().set(UPSTREAM_COOKIE, &browser, Some(PENDING_SECS)),
    );
    response
}

fn unknown_client(locale: Locale) -> Response {
    error_page(ErrorCode::InvalidClient, "unknown client", locale, StatusCode::BAD_REQUEST)
}

/// The login page again, saying the upstream sign-in did not work (the reason is
/// logged, never shown), counted as a failure.
async fn failed<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    cx.count_usage(&app.client_id, UsageEvent::Failure);
    let problem = Some((LoginProblem::UpstreamFailed, ""));
    show_login(engine, app, interaction, headers, problem, cx).await
}

/// `GET /upstream/callback`: the provider's answer.
pub(crate) async fn callback<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let headers = request.headers();
    let locale = Locale::negotiate(None, accept_language(headers));
    let bad = |description: &str| {
        error_page(ErrorCode::InvalidRequest, description, locale, StatusCode::BAD_REQUEST)
    };
    let Ok(query) = parse_query(request.uri().query().unwrap_or_default()) else {
        return bad("the answer of the sign-in provider could not be read");
    };
    let Some(state) = query.get("state") else {
        return bad("the answer of the sign-in provider could not be read");
    };
    let key = schema::upstream_state(&Sha256::digest(state.as_bytes()));
    let pending = match engine.platform().once().take(&key, now).await {
        Ok(Taken::First(bytes)) => serde_json::from_slice::<Pending>(&bytes).ok(),
        Ok(Taken::Again(_)) => {
            cx.diagnose("upstream callback refused: state already used".to_owned());
            None
        }
        Ok(Taken::Missing) => {
            cx.diagnose("upstream callback refused: unknown or expired state".to_owned());
            None
        }
        Err(_) => return unavailable(locale),
    };
    let expired_text =
        "this sign-in has expired or was already used; go back to the app and try again";
    let Some(pending) = pending else { return bad(expired_text) };
    let cookie_name = engine.cookie_policy().name(UPSTREAM_COOKIE);
    let bound = crate::http::cookie::get(headers, &cookie_name)
        .is_some_and(|value| digest(value) == pending.browser);
    if !bound {
        cx.diagnose("upstream callback refused: not the browser that started it".to_owned());
        return bad(expired_text);
    }
    let Pending { interaction, provider: provider_id, nonce, verifier, .. } = pending;
    let locale = interaction.request.locale(headers);
    if expired(interaction.expires_at, now) {
        return bad("the sign-in request took too long; go back to the app and try again");
    }
    let app = match live_app(engine, &interaction.request.client_id, now).await {
        Ok(Some(app)) => app,
        Ok(None) => return unknown_client(locale),
        Err(_) => return unavailable(locale),
    };
    let mut response =
        match sign_in(engine, &app, &provider_id, &query, &nonce, &verifier, cx).await {
            Ok(user) => signed_in(engine, &app, interaction, &user, headers, cx).await,
            Err(Outcome::Unavailable) => unavailable(locale),
            Err(Outcome::NoAccount) => {
                cx.count_usage(&app.client_id, UsageEvent::Failure);
                let problem = Some((LoginProblem::NoUpstreamAccount, ""));
                show_login(engine, &app, interaction, headers, problem, cx).await
            }
            Err(Outcome::Failed(why)) => {
                cx.diagnose(format!("upstream sign-in through {provider_id:?} failed: {why}"));
                failed(engine, &app, interaction, headers, cx).await
            }
        };
    set_cookie(&mut response, engine.cookie_policy().clear(UPSTREAM_COOKIE));
    response
}

/// Why an upstream sign-in found no user.
enum Outcome {
    /// The provider, its answer or its token failed a check (the reason is logged).
    Failed(String),
    /// The upstream account is valid but no local user may use it.
    NoAccount,
    /// A store failed.
    Unavailable,
}

/// Checks the provider's answer, redeems the code and verifies the ID token, and
/// finds, links or creates the user.
#[allow(clippy::too_many_arguments)]
async fn sign_in<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    provider_id: &str,
    query: &crate::http::Form,
    nonce: &str,
    verifier: &str,
    cx: &mut Context<'_>,
) -> Result<UserRecord, Outcome> {
    let now = cx.now();
    let failed = |why: &str| Outcome::Failed(why.to_owned());
    let provider = match load(engine, provider_id, now).await {
        Ok(Some(p)) if app.allowed_providers.iter().any(|a| a == provider_id) => p,
        Ok(_) => return Err(failed("the provider is disabled or no longer allowed")),
        Err(_) => return Err(Outcome::Unavailable),
    };
    if let Some(error) = query.get("error") {
        return Err(Outcome::Failed(format!("the provider answered error {error:?}")));
    }
    // RFC 9207: a provider that names itself must name the right issuer.
    if query.get("iss").is_some_and(|iss| iss != provider.issuer) {
        return Err(failed("the answer names another issuer"));
    }
    let code = query.get("code").ok_or_else(|| failed("the answer has no code"))?;
    let metadata = discover(engine, &provider, now).await.map_err(failed)?;
    let id_token = exchange(engine, &provider, &metadata, code, verifier).await.map_err(failed)?;
    let claims = verify(engine, &provider, &metadata, &id_token, nonce, now).await?;
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
    let user = find_user(engine, app, &provider, &subject, &claims, cx).await?;
    if !user.enabled {
        return Err(failed("the user is disabled"));
    }
    Ok(user)
}

/// Redeems `code` at the provider's token endpoint, authenticating as configured;
/// returns the ID token.
async fn exchange<P: Platform>(
    engine: &Engine<P>,
    provider: &ProviderRecord,
    metadata: &Metadata,
    code: &str,
    verifier: &str,
) -> Result<String, &'static str> {
    let config = engine.config();
    check_destination(&metadata.token_endpoint, config.fetch_policy)
        .map_err(|_| "the token endpoint is not an allowed destination")?;
    let secret = provider.client_secret(&config.kek).ok_or("the client secret did not open")?;
    let secret = String::from_utf8_lossy(secret.expose()).into_owned();
    let redirect_uri = config.issuer.endpoint(UPSTREAM_CALLBACK_PATH);
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    let mut headers = vec![
        ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
        // Not the hooks' agent: this is the issuer acting as a relying party.
        ("user-agent".to_owned(), "Gatehouse".to_owned()),
    ];
    match provider.token_endpoint_auth_method {
        UpstreamAuthMethod::ClientSecretBasic => {
            // RFC 6749 section 2.3.1: each part form-encoded, then Basic.
            use base64::Engine as _;
            let credentials = format!(
                "{}:{}",
                crate::http::encode(&provider.client_id),
                crate::http::encode(&secret)
            );
            let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
            headers.push(("authorization".to_owned(), format!("Basic {basic}")));
        }
        UpstreamAuthMethod::ClientSecretPost => {
            pairs.push(("client_id", provider.client_id.as_str()));
            pairs.push(("client_secret", secret.as_str()));
        }
    }
    let post = Post {
        url: metadata.token_endpoint.clone(),
        headers,
        body: encode_pairs(pairs).into_bytes(),
        timeout_ms: EXCHANGE_TIMEOUT_MS,
    };
    let answer = engine
        .platform()
        .fetch()
        .post(&post)
        .await
        .map_err(|_| "the token endpoint did not answer")?;
    if answer.status != 200 {
        return Err("the token endpoint refused the code");
    }
    let body: Map<String, Value> =
        serde_json::from_slice(&answer.body).map_err(|_| "the token response is malformed")?;
    body.get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or("the token response has no id_token")
}

/// Verifies the ID token against the provider's keys (fetched once more when no
/// key fits, as the host's cooldown allows): signature (RS256 or ES256), `iss`,
/// `aud`, `azp`, `exp`, `iat` and `nonce`. Returns its claims.
async fn verify<P: Platform>(
    engine: &Engine<P>,
    provider: &ProviderRecord,
    metadata: &Metadata,
    token: &str,
    nonce: &str,
    now: UnixTime,
) -> Result<Map<String, Value>, Outcome> {
    let policy =
        IdTokenPolicy::new(provider.issuer.clone(), provider.client_id.clone()).with_nonce(nonce);
    let crypto = engine.platform().crypto();
    let mut checked = Err(VerifyError::UnknownKey);
    for revalidate in [false, true] {
        let Some(jwks) = keys(engine, &metadata.jwks_uri, revalidate, now).await else {
            return Err(Outcome::Failed("the provider's keys could not be fetched".into()));
        };
        checked = verify_id_token(crypto, &jwks, &policy, token, now).await;
        if checked != Err(VerifyError::UnknownKey) {
            break;
        }
    }
    if let Err(error) = checked {
        return Err(Outcome::Failed(format!("the id token was refused: {error}")));
    }
    // Verified: its claims are the provider's.
    token
        .split('.')
        .nth(1)
        .and_then(|payload| b64url_decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Outcome::Failed("the id token claims are malformed".into()))
}

/// The JWK set at `url`.
async fn keys<P: Platform>(
    engine: &Engine<P>,
    url: &str,
    revalidate: bool,
    now: UnixTime,
) -> Option<Jwks> {
    check_destination(url, engine.config().fetch_policy).ok()?;
    let fetched = engine.platform().fetch().get(url, revalidate, now).await.ok()?;
    if fetched.status != 200 {
        return None;
    }
    serde_json::from_slice(&fetched.body).ok()
}

/// The local user of the upstream account `subject`: by its link; else, if the
/// app allows, the user with the verified email, linked now; else, if the app
/// allows, a new user.
async fn find_user<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    provider: &ProviderRecord,
    subject: &str,
    claims: &Map<String, Value>,
    cx: &mut Context<'_>,
) -> Result<UserRecord, Outcome> {
    if subject.is_empty() {
        return Err(Outcome::Failed("the id token has no subject".into()));
    }
    let identity_name = schema::user_identity(&provider.issuer, subject);
    if let Some(user) = user_by_name(engine, &identity_name).await? {
        return Ok(user);
    }
    let identity = Identity {
        provider: provider.id.clone(),
        issuer: provider.issuer.clone(),
        subject: subject.to_owned(),
        linked_at: cx.now(),
    };
    let email = mapped(provider, claims, "email").and_then(Value::as_str).map(str::to_owned);
    // OpenID Connect Core section 5.7: only an email the provider verified says
    // who the account belongs to.
    let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
    if app.link_by_verified_email
        && verified
        && let Some(email) = &email
        && let Some(user) = user_by_name(engine, &schema::user_email(email)).await?
    {
        return link(engine, user, identity, &identity_name, cx).await;
    }
    if !app.register_with_login_information {
        cx.diagnose(format!(
            "upstream sign-in through {:?}: no linked user and the app creates none",
            provider.id
        ));
        return Err(Outcome::NoAccount);
    }
    create(engine, app, provider, identity, &identity_name, claims, email, verified, cx).await
}

/// The claim the provider's mapping takes for the local `claim`.
fn mapped<'c>(
    provider: &ProviderRecord,
    claims: &'c Map<String, Value>,
    claim: &str,
) -> Option<&'c Value> {
    provider.upstream_claim(claim).and_then(|upstream| claims.get(upstream))
}

/// The user holding the registry name `name` (published to the directory).
async fn user_by_name<P: Platform>(
    engine: &Engine<P>,
    name: &str,
) -> Result<Option<UserRecord>, Outcome> {
    let directory = engine.platform().directory();
    let key = match directory.get(name).await {
        Ok(Some(bytes)) => serde_json::from_slice::<String>(&bytes).ok(),
        Ok(None) | Err(crate::store::StoreError::Refused(_)) => None,
        Err(_) => return Err(Outcome::Unavailable),
    };
    let Some(key) = key.filter(|k| k.starts_with(schema::USERS_PREFIX)) else { return Ok(None) };
    read_record(directory, &key).await.map_err(|_| Outcome::Unavailable)
}

/// Adds `identity` to `user` through the registry (its version checked, the link's
/// name claimed in the same step).
async fn link<P: Platform>(
    engine: &Engine<P>,
    user: UserRecord,
    identity: Identity,
    identity_name: &str,
    cx: &mut Context<'_>,
) -> Result<UserRecord, Outcome> {
    let registry = engine.platform().registry();
    let current = registry.read(&schema::user(&user.id)).await.map_err(|_| Outcome::Unavailable)?;
    let Some(current) = current else { return Err(Outcome::NoAccount) };
    let mut user: UserRecord =
        serde_json::from_value(current.record).map_err(|_| Outcome::Unavailable)?;
    user.identities.push(identity);
    user.updated_at = cx.now();
    let commit = Commit {
        key: schema::user(&user.id),
        record: Some(serde_json::to_value(&user).map_err(|_| Outcome::Unavailable)?),
        expect: Expect::Version(current.version),
        claim: vec![identity_name.to_owned()],
        release: Vec::new(),
        cascade: Vec::new(),
    };
    match registry.commit(commit).await {
        Ok(_) => Ok(user),
        Err(CommitError::NameTaken(_) | CommitError::VersionMismatch) => {
            // Linked meanwhile (to this user or another): the link decides.
            user_by_name(engine, identity_name).await?.ok_or(Outcome::Unavailable)
        }
        Err(_) => Err(Outcome::Unavailable),
    }
}

/// Creates the user of a first upstream sign-in: no password, the mapped claims
/// that pass the user rules, `email_verified` only as the provider asserts it.
#[allow(clippy::too_many_arguments)]
async fn create<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    provider: &ProviderRecord,
    identity: Identity,
    identity_name: &str,
    claims: &Map<String, Value>,
    email: Option<String>,
    verified: bool,
    cx: &mut Context<'_>,
) -> Result<UserRecord, Outcome> {
    let now = cx.now();
    let mut local = Map::new();
    for claim in crate::model::provider::MAPPED_CLAIMS.iter().filter(|c| **c != "username") {
        if let Some(value) = mapped(provider, claims, claim)
            && check_mapped_claim(claim, value)
        {
            local.insert((*claim).to_owned(), value.clone());
        }
    }
    if local.contains_key("email") {
        local.insert("email_verified".into(), Value::Bool(verified));
    }
    let wanted = mapped(provider, claims, "username")
        .and_then(Value::as_str)
        .or(email.as_deref())
        .filter(|u| check_username(u).is_ok())
        .map(str::to_owned);
    let mut user = UserRecord {
        id: random_id(cx.rng(), 16),
        username: String::new(),
        enabled: true,
        roles: Vec::new(),
        claims: local,
        mfa_required: false,
        identities: vec![identity],
        fields: serde_json::Map::new(),
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    // The wanted username, or when it is taken (or unusable) a generated one.
    for attempt in 0..2 {
        user.username = match (&wanted, attempt) {
            (Some(name), 0) => name.clone(),
            _ => format!("{}-{}", provider.id, random_id(cx.rng(), 9).to_ascii_lowercase()),
        };
        if wanted.is_none() && attempt == 0 {
            continue;
        }
        let commit = Commit {
            key: schema::user(&user.id),
            record: Some(serde_json::to_value(&user).map_err(|_| Outcome::Unavailable)?),
            expect: Expect::Absent,
            claim: user.sign_in_names(),
            release: Vec::new(),
            cascade: Vec::new(),
        };
        match engine.platform().registry().commit(commit).await {
            Ok(_) => {
                cx.count_usage(&app.client_id, UsageEvent::Registration);
                return Ok(user);
            }
            Err(CommitError::NameTaken(name)) if name == identity_name => {
                // Another first sign-in of the same account won: use its user.
                return user_by_name(engine, identity_name).await?.ok_or(Outcome::Unavailable);
            }
            Err(CommitError::NameTaken(name)) if name.starts_with(schema::USER_EMAILS_PREFIX) => {
                cx.diagnose(format!(
                    "upstream sign-in through {:?}: the email belongs to another user, and is not linked",
                    provider.id
                ));
                return Err(Outcome::NoAccount);
            }
            Err(CommitError::NameTaken(_)) => {}
            Err(_) => return Err(Outcome::Unavailable),
        }
    }
    Err(Outcome::Unavailable)
}

/// With the user known: a new session (`amr` `fed`), the `login` hook, usage, and
/// the rest of the authorization request as after a password.
async fn signed_in<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    user: &UserRecord,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let locale = interaction.request.locale(headers);
    if let Ok(Some(old)) = engine.current_session(headers, now).await {
        let _ = engine.end_session(&old.key).await;
    }
    let (cookie_value, session) = match engine.start_session(&user.id, &[FED], now, cx.rng()).await
    {
        Ok(started) => started,
        Err(_) => return unavailable(locale),
    };
    let Ok(hooks) = AppHooks::load(engine, app, cx).await else { return unavailable(locale) };
    SignInHooks::new(engine, &hooks, headers, &user.username, cx).succeeded(
        user,
        &[FED],
        &session.sid,
    );
    cx.count_usage(&app.client_id, UsageEvent::Login);
    let device = interaction.device.clone();
    let mut interaction = Interaction::signed_in(interaction.request, &session, now);
    interaction.device = device;
    let mut response = proceed(engine, app, interaction, headers, cx).await;
    set_cookie(
        &mut response,
        engine.cookie_policy().set(SESSION_COOKIE, &cookie_value, Some(SESSION_SECS)),
    );
    response
}
