//! Issuer configuration, read from the host's variables and secrets once per isolate.

use crate::fetch::FetchPolicy;
use crate::keys::{Kek, KeyError};
use crate::types::{ClientId, ClientSecret, IssuerUrl, ScopeSet};

/// The default access token lifetime: 1 hour.
pub const DEFAULT_ACCESS_TOKEN_SECS: u64 = 3600;
/// The shortest bootstrap client secret accepted.
pub const MIN_ADMIN_SECRET_CHARS: usize = 16;
/// The variable that lets outbound requests reach plain `http`, loopback and
/// private networks ([`FetchPolicy::InsecureAllowPrivate`]): `true` or `false`.
pub const INSECURE_ALLOW_PRIVATE_FETCH: &str = "INSECURE_ALLOW_PRIVATE_FETCH";

/// A configuration problem, naming the variable. Shown to operators in logs, never
/// to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The bootstrap client from `ADMIN_CLIENT_ID` / `ADMIN_CLIENT_SECRET`: a
/// server-to-server client that may request every management scope with
/// `client_credentials`.
#[derive(Debug, Clone)]
pub struct BootstrapClient {
    /// Its id.
    pub client_id: ClientId,
    /// SHA-256 of its secret.
    pub secret_digest: [u8; 32],
    /// The scopes it may request (every management scope).
    pub scopes: ScopeSet,
}

/// Everything the engine is configured with.
#[derive(Debug)]
pub struct Config {
    /// The issuer identifier (`ISSUER`).
    pub issuer: IssuerUrl,
    /// The bootstrap client, when both admin variables are set.
    pub bootstrap: Option<BootstrapClient>,
    /// The key-encryption key derived from `KEY_ENCRYPTION_SECRET`.
    pub kek: Kek,
    /// Access token lifetime in seconds.
    pub access_token_secs: u64,
    /// Where outbound requests to registered URLs (`jwks_uri`) may go
    /// (`INSECURE_ALLOW_PRIVATE_FETCH`; public `https` hosts only unless it is `true`).
    pub fetch_policy: FetchPolicy,
}

impl Config {
    /// Reads the configuration through `var`, which looks up a variable or secret.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first missing or invalid variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let issuer =
            var("ISSUER").ok_or(ConfigError { variable: "ISSUER", problem: "is not set" })?;
        let issuer = IssuerUrl::new(&issuer)
            .map_err(|e| ConfigError { variable: "ISSUER", problem: e.0 })?;
        let secret = var("KEY_ENCRYPTION_SECRET")
            .ok_or(ConfigError { variable: "KEY_ENCRYPTION_SECRET", problem: "is not set" })?;
        let kek = Kek::derive(secret.as_bytes()).map_err(|e| ConfigError {
            variable: "KEY_ENCRYPTION_SECRET",
            problem: match e {
                KeyError::WeakSecret => "must be at least 32 bytes",
                _ => "cannot derive a key",
            },
        })?;
        let bootstrap = match (var("ADMIN_CLIENT_ID"), var("ADMIN_CLIENT_SECRET")) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(bootstrap_client(&id, secret)?),
            (None, Some(_)) => {
                return Err(ConfigError {
                    variable: "ADMIN_CLIENT_ID",
                    problem: "is not set but ADMIN_CLIENT_SECRET is",
                });
            }
            (Some(_), None) => {
                return Err(ConfigError {
                    variable: "ADMIN_CLIENT_SECRET",
                    problem: "is not set but ADMIN_CLIENT_ID is",
                });
            }
        };
        let fetch_policy = match var(INSECURE_ALLOW_PRIVATE_FETCH).as_deref() {
            None | Some("false") => FetchPolicy::PublicHttpsOnly,
            Some("true") => FetchPolicy::InsecureAllowPrivate,
            Some(_) => {
                return Err(ConfigError {
                    variable: INSECURE_ALLOW_PRIVATE_FETCH,
                    problem: "must be true or false",
                });
            }
        };
        Ok(Self {
            issuer,
            bootstrap,
            kek,
            access_token_secs: DEFAULT_ACCESS_TOKEN_SECS,
            fetch_policy,
        })
    }
}

fn bootstrap_client(id: &str, secret: String) -> Result<BootstrapClient, ConfigError> {
    let client_id =
        ClientId::new(id).map_err(|e| ConfigError { variable: "ADMIN_CLIENT_ID", problem: e.0 })?;
    if secret.chars().count() < MIN_ADMIN_SECRET_CHARS {
        return Err(ConfigError {
            variable: "ADMIN_CLIENT_SECRET",
            problem: "must be at least 16 characters",
        });
    }
    let scopes = ScopeSet::from_static(crate::types::MANAGEMENT_SCOPES).map_err(|_| {
        ConfigError { variable: "ADMIN_CLIENT_ID", problem: "management scopes are malformed" }
    })?;
    Ok(BootstrapClient { client_id, secret_digest: ClientSecret::new(secret).digest(), scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    const KEK: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_a_full_configuration() {
        let config = Config::from_vars(vars(&[
            ("ISSUER", "http://127.0.0.1:8787"),
            ("KEY_ENCRYPTION_SECRET", KEK),
            ("ADMIN_CLIENT_ID", "admin"),
            ("ADMIN_CLIENT_SECRET", "0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(config.issuer.as_str(), "http://127.0.0.1:8787");
        assert!(config.bootstrap.unwrap().scopes.contains("gatehouse:admin"));
        assert_eq!(config.fetch_policy, FetchPolicy::PublicHttpsOnly);
    }

    #[test]
    fn private_fetches_are_allowed_only_when_asked_for_by_name() {
        let policy = |value: &str| {
            Config::from_vars(vars(&[
                ("ISSUER", "https://x.com"),
                ("KEY_ENCRYPTION_SECRET", KEK),
                (INSECURE_ALLOW_PRIVATE_FETCH, value),
            ]))
            .map(|c| c.fetch_policy)
        };
        assert_eq!(policy("true"), Ok(FetchPolicy::InsecureAllowPrivate));
        assert_eq!(policy("false"), Ok(FetchPolicy::PublicHttpsOnly));
        for wrong in ["1", "yes", "TRUE", "true "] {
            assert_eq!(policy(wrong).unwrap_err().variable, INSECURE_ALLOW_PRIVATE_FETCH);
        }
    }

    #[test]
    fn names_the_variable_at_fault() {
        let err = Config::from_vars(vars(&[("KEY_ENCRYPTION_SECRET", KEK)])).unwrap_err();
        assert_eq!(err.variable, "ISSUER");
        let err = Config::from_vars(vars(&[
            ("ISSUER", "https://x.com"),
            ("KEY_ENCRYPTION_SECRET", "short"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "KEY_ENCRYPTION_SECRET");
        let err = Config::from_vars(vars(&[
            ("ISSUER", "https://x.com"),
            ("KEY_ENCRYPTION_SECRET", KEK),
            ("ADMIN_CLIENT_ID", "admin"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "ADMIN_CLIENT_SECRET");
        let err = Config::from_vars(vars(&[
            ("ISSUER", "https://x.com"),
            ("KEY_ENCRYPTION_SECRET", KEK),
            ("ADMIN_CLIENT_ID", "admin"),
            ("ADMIN_CLIENT_SECRET", "short"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "ADMIN_CLIENT_SECRET");
    }
}
