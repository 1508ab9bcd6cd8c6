//! The gateway's configuration: a TOML document, read once at start-up and validated
//! completely, so that a mistake stops the gateway with the line it is on instead of
//! refusing (or worse, admitting) requests later.

use std::collections::BTreeMap;

use http::{HeaderName, Method};
use serde::Deserialize;
use toml::Spanned;

use crate::jose::Algorithm;
use crate::verify::{AccessTokenPolicy, MAX_LEEWAY_SECS};

use super::route::{Requirement, Route, RouteMatcher};

/// What an operator is told when `audience` is missing or empty.
const AUDIENCE_HINT: &str = "set it to the identifier of the API this gateway protects, the \
    `aud` its access tokens carry (the resource identifier registered at the issuer; \
    {issuer}/admin/v1 for Gatehouse's management API)";

/// Default clock-skew leeway (seconds).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Default least time between two JWKS refetches caused by an unknown `kid` (seconds).
pub const DEFAULT_REFETCH_COOLDOWN_SECS: u64 = 10;
/// Default longest time a JWKS is served past its freshness while the issuer is
/// unreachable (seconds).
pub const DEFAULT_MAX_STALE_SECS: u64 = 24 * 3600;
/// Default number of verified tokens kept per isolate.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Why a configuration was refused: a message and the 1-based line it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line in the TOML text (0 when the error is about the whole document).
    pub line: usize,
    /// What is wrong, lowercase.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "gateway config: {}", self.message)
        } else {
            write!(f, "gateway config line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The names of the headers that carry claims to the origin. Incoming headers with
/// these names are always removed first, so a caller cannot forge them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeaders {
    /// The token's `sub`.
    pub sub: HeaderName,
    /// The token's `client_id`.
    pub client_id: HeaderName,
    /// The token's `scope`, space-delimited.
    pub scope: HeaderName,
    /// The token's `permissions`, space-delimited (sent only when the token has some).
    pub permissions: HeaderName,
    /// The token's `roles`, space-delimited (sent only when the token has some).
    pub roles: HeaderName,
}

impl ClaimHeaders {
    /// Every name, for stripping.
    #[must_use]
    pub fn all(&self) -> [&HeaderName; 5] {
        [&self.sub, &self.client_id, &self.scope, &self.permissions, &self.roles]
    }
}

/// Cross-origin rules for browsers calling the API through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    /// Allowed origins, exact (`https://app.example.com`); `*` allows any.
    pub origins: Vec<String>,
    /// Methods a preflight may ask for.
    pub methods: Vec<Method>,
    /// Request headers a preflight may ask for (lowercase).
    pub headers: Vec<String>,
    /// Response headers the browser may read (lowercase).
    pub expose_headers: Vec<String>,
    /// Preflight cache lifetime in seconds.
    pub max_age: u64,
}

impl Cors {
    /// Whether CORS is configured at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// Whether `origin` may call the API.
    #[must_use]
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// What the gateway answers for a request no route matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// 404: the gateway does not reveal what exists behind it (the default).
    NotFound,
    /// 403: the path exists but nobody may reach it through the gateway.
    Forbidden,
}

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The issuer identifier; discovery is read from
    /// `{issuer}/.well-known/openid-configuration` and tokens must carry it as `iss`.
    pub issuer: String,
    /// Where admitted requests go: scheme, host and optional port, no path.
    pub origin: String,
    /// What tokens are checked against (issuer, audiences, algorithms, leeway). The
    /// first audience is the configured `audience`, required: the identifier of the
    /// API behind the gateway.
    pub policy: AccessTokenPolicy,
    /// Forward the caller's `Authorization` header to the origin (off by default).
    pub forward_authorization: bool,
    /// The claim headers.
    pub headers: ClaimHeaders,
    /// Every header any `forward_claims` table names: removed from every incoming
    /// request, on public routes too.
    pub forward_claim_headers: Vec<HeaderName>,
    /// CORS rules.
    pub cors: Cors,
    /// Least time between unknown-`kid` refetches of the JWKS (seconds).
    pub refetch_cooldown_secs: u64,
    /// How long past freshness a JWKS may serve while the issuer is unreachable.
    pub max_stale_secs: u64,
    /// Verified tokens kept per isolate (0 disables the cache).
    pub token_cache_entries: usize,
    /// The answer when no route matches.
    pub unmatched: Unmatched,
    /// The routes, first match wins.
    pub routes: RouteMatcher,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Spanned<String>,
    origin: Spanned<String>,
    #[serde(default)]
    audience: Option<Spanned<String>>,
    #[serde(default)]
    algorithms: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    leeway: Option<Spanned<u64>>,
    #[serde(default)]
    forward_authorization: bool,
    #[serde(default)]
    unmatched: Option<Spanned<u16>>,
    #[serde(default)]
    jwks_refetch_cooldown: Option<u64>,
    #[serde(default)]
    jwks_max_stale: Option<u64>,
    #[serde(default)]
    token_cache_entries: Option<Spanned<usize>>,
    #[serde(default)]
    headers: Option<RawHeaders>,
    #[serde(default)]
    forward_claims: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    cors: Option<RawCors>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaders {
    sub: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    permissions: Option<Spanned<String>>,
    roles: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    origins: Spanned<Vec<String>>,
    #[serde(default)]
    methods: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    headers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    expose_headers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    max_age: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    #[serde(default)]
    methods: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    audience: Option<Spanned<String>>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    any_scopes: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    any_permissions: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    any_roles: Vec<String>,
    #[serde(default)]
    forward_claims: Option<Spanned<BTreeMap<String, String>>>,
}

type MakeRequirement = fn(Vec<String>) -> Requirement;

/// Maps byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        self.0.get(..offset).unwrap_or(self.0).bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError { line: self.at(span.start), message: message.into() })
    }
}

impl GatewayConfig {
    /// Parses and validates a configuration document.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] with the line of the first problem: TOML syntax, an unknown or
    /// mistyped key, a missing `audience` (line 0, naming the key), a URL that is not
    /// `http(s)://host[:port]`, a route prefix that is not a plain path (unreserved
    /// characters between single `/`), a public route with requirements, an unknown
    /// algorithm, a leeway over [`MAX_LEEWAY_SECS`], an invalid header name.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let lines = Lines(text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            line: e.span().map_or(0, |s| lines.at(s.start)),
            message: e.message().trim().to_lowercase(),
        })?;

        let issuer = raw.issuer.get_ref().trim_end_matches('/').to_owned();
        if !is_base_url(&issuer, true) {
            return lines.err(raw.issuer.span(), "issuer must be an http(s) URL");
        }
        let origin = raw.origin.get_ref().trim_end_matches('/').to_owned();
        if !is_base_url(&origin, false) {
            return lines.err(
                raw.origin.span(),
                "origin must be scheme://host[:port] with no path, query or fragment",
            );
        }
        let audience = match &raw.audience {
            Some(a) if a.get_ref().trim().is_empty() => {
                return lines.err(a.span(), format!("audience must not be empty; {AUDIENCE_HINT}"));
            }
            Some(a) => a.get_ref().clone(),
            None => {
                return Err(ConfigError {
                    line: 0,
                    message: format!("audience is required; {AUDIENCE_HINT}"),
                });
            }
        };
        let mut policy = AccessTokenPolicy::new(issuer.clone(), audience);
        if let Some(algs) = &raw.algorithms {
            let mut parsed = Vec::new();
            for name in algs.get_ref() {
                match Algorithm::from_name(name) {
                    Some(alg) => parsed.push(alg),
                    None => {
                        return lines.err(
                            algs.span(),
                            format!("algorithm {name:?} is not supported (ES256, RS256)"),
                        );
                    }
                }
            }
            if parsed.is_empty() {
                return lines.err(algs.span(), "algorithms must not be empty");
            }
            policy = policy.with_algorithms(&parsed);
        }
        let leeway = match &raw.leeway {
            Some(l) if *l.get_ref() > MAX_LEEWAY_SECS => {
                return lines
                    .err(l.span(), format!("leeway must be at most {MAX_LEEWAY_SECS} seconds"));
            }
            Some(l) => *l.get_ref(),
            None => DEFAULT_LEEWAY_SECS,
        };
        policy = policy.with_leeway(leeway);

        let unmatched = match &raw.unmatched {
            None => Unmatched::NotFound,
            Some(u) if *u.get_ref() == 404 => Unmatched::NotFound,
            Some(u) if *u.get_ref() == 403 => Unmatched::Forbidden,
            Some(u) => return lines.err(u.span(), "unmatched must be 404 or 403"),
        };
        let token_cache_entries = match &raw.token_cache_entries {
            Some(n) if *n.get_ref() > 1_000_000 => {
                return lines.err(n.span(), "token_cache_entries must be at most 1000000");
            }
            Some(n) => *n.get_ref(),
            None => DEFAULT_TOKEN_CACHE_ENTRIES,
        };

        let headers = claim_headers(&lines, raw.headers)?;
        let cors = cors(&lines, raw.cors)?;
        let forwarded_everywhere = forward_claims(&lines, raw.forward_claims.as_ref(), &headers)?;
        let mut forward_claim_headers: Vec<HeaderName> =
            forwarded_everywhere.iter().map(|(h, _)| h.clone()).collect();

        let mut routes = Vec::new();
        for route in &raw.routes {
            let span = route.span();
            let route = route.get_ref();
            let prefix = route.prefix.get_ref();
            if !is_plain_prefix(prefix) {
                return lines.err(
                    route.prefix.span(),
                    "prefix must start with / and hold only letters, digits, - . _ ~ and single / \
                     between segments (no . or .. segment)",
                );
            }
            let methods = match &route.methods {
                None => Vec::new(),
                Some(m) => parse_methods(&lines, m)?,
            };
            let mut requirements = Vec::new();
            let lists: [(&Vec<String>, MakeRequirement); 6] = [
                (&route.scopes, Requirement::AllScopes),
                (&route.any_scopes, Requirement::AnyScope),
                (&route.permissions, Requirement::AllPermissions),
                (&route.any_permissions, Requirement::AnyPermission),
                (&route.roles, Requirement::AllRoles),
                (&route.any_roles, Requirement::AnyRole),
            ];
            for (list, make) in lists {
                if list.iter().any(|v| {
                    v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
                }) {
                    return lines.err(span.clone(), "scope, permission and role names must be non-empty, without spaces or quotes");
                }
                if !list.is_empty() {
                    requirements.push(make(list.clone()));
                }
            }
            if route.public
                && (!requirements.is_empty()
                    || route.audience.is_some()
                    || route.forward_claims.is_some())
            {
                return lines.err(
                    span,
                    "a public route cannot also require scopes, permissions, roles or an audience, \
                     or forward claims",
                );
            }
            let mut forwarded = forwarded_everywhere.clone();
            for (header, claim) in forward_claims(&lines, route.forward_claims.as_ref(), &headers)?
            {
                if !forward_claim_headers.contains(&header) {
                    forward_claim_headers.push(header.clone());
                }
                // The route's own table wins over the top-level one for a header.
                forwarded.retain(|(h, _)| *h != header);
                forwarded.push((header, claim));
            }
            let audience = match &route.audience {
                Some(a) if a.get_ref().is_empty() => {
                    return lines.err(a.span(), "audience must not be empty");
                }
                Some(a) => {
                    policy = policy.with_audience(a.get_ref().clone());
                    Some(a.get_ref().clone())
                }
                None => None,
            };
            routes.push(Route {
                prefix: prefix.clone(),
                case_insensitive: route.case_insensitive,
                methods,
                public: route.public,
                audience,
                requirements,
                forward_claims: forwarded,
            });
        }
        if routes.is_empty() {
            return Err(ConfigError {
                line: 0,
                message: "at least one [[routes]] entry is needed".into(),
            });
        }

        let mut kept: Vec<String> = Vec::new();
        for route in &routes {
            for (_, claim) in &route.forward_claims {
                if !kept.contains(claim) {
                    kept.push(claim.clone());
                }
            }
        }
        let policy = policy.with_kept_claims(kept);

        Ok(Self {
            issuer,
            origin,
            policy,
            forward_authorization: raw.forward_authorization,
            headers,
            forward_claim_headers,
            cors,
            refetch_cooldown_secs: raw
                .jwks_refetch_cooldown
                .unwrap_or(DEFAULT_REFETCH_COOLDOWN_SECS),
            max_stale_secs: raw.jwks_max_stale.unwrap_or(DEFAULT_MAX_STALE_SECS),
            token_cache_entries,
            unmatched,
            routes: RouteMatcher::new(routes),
        })
    }

    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery section 4).
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }
}

fn parse_methods(
    lines: &Lines<'_>,
    methods: &Spanned<Vec<String>>,
) -> Result<Vec<Method>, ConfigError> {
    let mut out = Vec::new();
    for m in methods.get_ref() {
        let upper = m.to_ascii_uppercase();
        match Method::from_bytes(upper.as_bytes()) {
            Ok(method) if !upper.is_empty() => out.push(method),
            _ => return lines.err(methods.span(), format!("{m:?} is not an HTTP method")),
        }
    }
    Ok(out)
}

fn claim_headers(lines: &Lines<'_>, raw: Option<RawHeaders>) -> Result<ClaimHeaders, ConfigError> {
    let raw = raw.unwrap_or(RawHeaders {
        sub: None,
        client_id: None,
        scope: None,
        permissions: None,
        roles: None,
    });
    let name = |value: &Option<Spanned<String>>,
                default: &'static str|
     -> Result<HeaderName, ConfigError> {
        match value {
            None => Ok(HeaderName::from_static(default)),
            Some(v) => match HeaderName::from_bytes(v.get_ref().as_bytes()) {
                Ok(name) if !is_protected_header(&name) => Ok(name),
                Ok(_) => lines.err(v.span(), format!("{:?} cannot carry claims", v.get_ref())),
                Err(_) => lines.err(v.span(), format!("{:?} is not a header name", v.get_ref())),
            },
        }
    };
    let headers = ClaimHeaders {
        sub: name(&raw.sub, "x-gatehouse-sub")?,
        client_id: name(&raw.client_id, "x-gatehouse-client-id")?,
        scope: name(&raw.scope, "x-gatehouse-scope")?,
        permissions: name(&raw.permissions, "x-gatehouse-permissions")?,
        roles: name(&raw.roles, "x-gatehouse-roles")?,
    };
    let all = headers.all();
    if all.iter().enumerate().any(|(i, a)| all.iter().skip(i + 1).any(|b| a == b)) {
        return Err(ConfigError { line: 0, message: "claim header names must differ".into() });
    }
    Ok(headers)
}

/// The claims the verifier reads itself: `sub`, `client_id`, `scope`, `permissions`
/// and `roles` go out under `[headers]`, the others are checked, not forwarded.
const VERIFIER_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "permissions",
    "roles",
    "userinfo_claims",
];

/// Headers a forwarded claim can never set: hop-by-hop headers (RFC 9110 section
/// 7.6.1), those proxies and the platform fill in, and those that change how the
/// body or the request is read.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-type",
    "content-encoding",
    "origin",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "set-cookie",
];

/// A `forward_claims` table: header name to claim name, each header valid, not
/// protected or reserved, not a `[headers]` name; each claim one the verifier does
/// not read itself.
fn forward_claims(
    lines: &Lines<'_>,
    raw: Option<&Spanned<BTreeMap<String, String>>>,
    headers: &ClaimHeaders,
) -> Result<Vec<(HeaderName, String)>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let mut out: Vec<(HeaderName, String)> = Vec::new();
    for (header, claim) in raw.get_ref() {
        let Ok(name) = HeaderName::from_bytes(header.as_bytes()) else {
            return lines.err(raw.span(), format!("{header:?} is not a header name"));
        };
        if is_protected_header(&name)
            || RESERVED_HEADERS.contains(&name.as_str())
            || name.as_str().starts_with("cf-")
        {
            return lines.err(raw.span(), format!("{header:?} cannot carry claims"));
        }
        if headers.all().contains(&&name) {
            return lines.err(raw.span(), format!("{header:?} is already a [headers] name"));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return lines.err(raw.span(), format!("{header:?} is named twice"));
        }
        if claim.is_empty() || VERIFIER_CLAIMS.contains(&claim.as_str()) {
            return lines.err(
                raw.span(),
                format!(
                    "claim {claim:?} cannot be forwarded here (sub, client_id, scope, \
                     permissions and roles go out under [headers])"
                ),
            );
        }
        out.push((name, claim.clone()));
    }
    Ok(out)
}

/// Headers the gateway or the HTTP layer owns: a claim must not overwrite them.
fn is_protected_header(name: &HeaderName) -> bool {
    use http::header;
    [
        header::AUTHORIZATION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::COOKIE,
    ]
    .contains(name)
}

fn cors(lines: &Lines<'_>, raw: Option<RawCors>) -> Result<Cors, ConfigError> {
    let Some(raw) = raw else { return Ok(Cors::default()) };
    for origin in raw.origins.get_ref() {
        if origin != "*" && !is_base_url(origin, false) {
            return lines.err(
                raw.origins.span(),
                format!("{origin:?} is not an origin (scheme://host[:port])"),
            );
        }
    }
    let methods = match &raw.methods {
        Some(m) => parse_methods(lines, m)?,
        None => vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ],
    };
    let header_list = |value: &Option<Spanned<Vec<String>>>,
                       default: &[&str]|
     -> Result<Vec<String>, ConfigError> {
        match value {
            None => Ok(default.iter().map(|h| (*h).to_owned()).collect()),
            Some(v) => {
                let mut out = Vec::new();
                for h in v.get_ref() {
                    if HeaderName::from_bytes(h.as_bytes()).is_err() {
                        return lines.err(v.span(), format!("{h:?} is not a header name"));
                    }
                    out.push(h.to_ascii_lowercase());
                }
                Ok(out)
            }
        }
    };
    Ok(Cors {
        origins: raw.origins.get_ref().iter().map(|o| o.trim_end_matches('/').to_owned()).collect(),
        methods,
        headers: header_list(&raw.headers, &["authorization", "content-type"])?,
        expose_headers: header_list(&raw.expose_headers, &["www-authenticate"])?,
        max_age: raw.max_age.unwrap_or(600).min(86_400),
    })
}

/// A route prefix the gateway can match without ambiguity: `/`, then segments of
/// unreserved characters (RFC 3986 section 2.3) separated by single `/`, none of them
/// `.` or `..`; a trailing `/` is allowed. Every spelling of such a prefix in a request
/// path normalizes to the prefix itself (see [`super::route::normalize_path`]).
fn is_plain_prefix(prefix: &str) -> bool {
    let Some(rest) = prefix.strip_prefix('/') else { return false };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    })
}

/// `http(s)://host[:port]`, optionally with a path when `path_ok`; never a query,
/// fragment, userinfo or whitespace.
fn is_base_url(url: &str, path_ok: bool) -> bool {
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    !authority.is_empty()
        && !authority.contains('@')
        && (path_ok || path.is_empty())
        && !url.contains(['?', '#', ' ', '\t', '\n', '\r', '\\'])
}
