//! Issuer configuration, read from the host's variables and secrets once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::fetch::FetchPolicy;
use crate::keys::{Kek, KeyError, MacKey};
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
    /// The MAC key of refresh token successors, derived from the same secret.
    pub token_mac: MacKey,
    /// The MAC key of stored recovery codes (second factor), derived from the same
    /// secret: a copy of the store alone cannot be searched for the codes.
    pub recovery_mac: MacKey,
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
        let token_mac =
            MacKey::derive(secret.as_bytes(), "gatehouse refresh tokens v1").map_err(|_| {
                ConfigError {
                    variable: "KEY_ENCRYPTION_SECRET",
                    problem: "must be at least 32 bytes",
                }
            })?;
        let recovery_mac = MacKey::derive(secret.as_bytes(), "gatehouse recovery codes v1")
            .map_err(|_| ConfigError {
                variable: "KEY_ENCRYPTION_SECRET",
                problem: "must be at least 32 bytes",
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
            token_mac,
            recovery_mac,
            access_token_secs: DEFAULT_ACCESS_TOKEN_SECS,
            fetch_policy,
        })
    }
}

/// Every variable [`Config::from_vars`] reads.
pub const VARIABLES: [&str; 5] = [
    "ISSUER",
    "KEY_ENCRYPTION_SECRET",
    "ADMIN_CLIENT_ID",
    "ADMIN_CLIENT_SECRET",
    INSECURE_ALLOW_PRIVATE_FETCH,
];

/// The configuration of an isolate, parsed (and its key-encryption key derived)
/// once, and again only when a variable changes: each request reads the variables
/// and compares their SHA-256 fingerprint with the kept one's.
#[derive(Default)]
pub struct ConfigCache {
    kept: RefCell<Option<([u8; 32], Rc<Config>)>>,
}

impl std::fmt::Debug for ConfigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCache").field("kept", &self.kept.borrow().is_some()).finish()
    }
}

impl ConfigCache {
    /// The configuration kept by the last [`Self::get`] that succeeded, without
    /// reading the variables: for a host that knows they have not changed since.
    #[must_use]
    pub fn kept(&self) -> Option<Rc<Config>> {
        self.kept.borrow().as_ref().map(|(_, config)| Rc::clone(config))
    }

    /// The configuration for the variables `var` reads now.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`Config::from_vars`]; a configuration in error is not kept.
    pub fn get(&self, var: impl Fn(&str) -> Option<String>) -> Result<Rc<Config>, ConfigError> {
        let values: Vec<Option<String>> = VARIABLES.iter().map(|name| var(name)).collect();
        let mut hash = Sha256::new();
        for value in &values {
            match value {
                // Length-prefixed, so no two lists of values hash alike.
                Some(value) => {
                    hash.update([1]);
                    hash.update((value.len() as u64).to_be_bytes());
                    hash.update(value.as_bytes());
                }
                None => hash.update([0]),
            }
        }
        let fingerprint: [u8; 32] = hash.finalize().into();
        if let Some((kept, config)) = self.kept.borrow().as_ref()
            && *kept == fingerprint
        {
            return Ok(Rc::clone(config));
        }
        let config = Rc::new(Config::from_vars(|name| {
            VARIABLES.iter().position(|n| *n == name).and_then(|i| values.get(i).cloned().flatten())
        })?);
        *self.kept.borrow_mut() = Some((fingerprint, Rc::clone(&config)));
        Ok(config)
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
    fn a_cached_configuration_is_parsed_again_only_when_a_variable_changes() {
        let cache = ConfigCache::default();
        let first = cache.get(vars(&[("ISSUER", "https://x.com"), ("KEY_ENCRYPTION_SECRET", KEK)]));
        let first = first.unwrap();
        let again = cache
            .get(vars(&[("ISSUER", "https://x.com"), ("KEY_ENCRYPTION_SECRET", KEK)]))
            .unwrap();
        assert!(Rc::ptr_eq(&first, &again));
        let other = KEK.replace('0', "1");
        let changed = cache
            .get(vars(&[("ISSUER", "https://x.com"), ("KEY_ENCRYPTION_SECRET", &other)]))
            .unwrap();
        assert!(!Rc::ptr_eq(&first, &changed));
        // A variable that appears counts as a change too.
        let with_admin = cache
            .get(vars(&[
                ("ISSUER", "https://x.com"),
                ("KEY_ENCRYPTION_SECRET", &other),
                ("ADMIN_CLIENT_ID", "admin"),
                ("ADMIN_CLIENT_SECRET", "0123456789abcdef"),
            ]))
            .unwrap();
        assert!(with_admin.bootstrap.is_some());
        // A broken configuration is refused each time, never kept.
        assert!(cache.get(vars(&[("ISSUER", "https://x.com")])).is_err());
        assert!(cache.get(vars(&[("ISSUER", "https://x.com")])).is_err());
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
