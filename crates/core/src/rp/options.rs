//! The browser package's options, read from the JSON of the objects an app passes
//! (`createClient(options)`, `login(options)`): camelCase members as the package
//! documents them, other members ignored (the entry's own options ride along).
//!
//! A member of the wrong type is refused by name, so the developer sees which
//! option to fix; `null` is the same as leaving a member out.

use super::login::LoginOptions;
use super::{ClientConfig, RpError};
use crate::json;

/// A member's raw value, checked later so a wrong type can be named.
type Raw<'a> = Option<&'a [u8]>;

/// Reads the top-level object of `text` member by member: `member` gets each key
/// and the raw text of its value.
fn members<'a>(
    text: &'a str,
    not_an_object: &'static str,
    member: &mut dyn FnMut(&str, &'a [u8]) -> json::Result<()>,
) -> Result<(), RpError> {
    let mut r = json::Reader::new(text.as_bytes());
    r.object(&mut |r, key| {
        let raw = r.raw()?;
        member(key, raw)
    })
    .and_then(|()| r.end())
    .map_err(|_| RpError::Config(not_an_object))
}

/// A string member, or `None` when absent or `null`.
fn text(raw: Raw<'_>, wrong: &'static str) -> Result<Option<String>, RpError> {
    raw.map_or(Ok(None), |raw| json::from_slice(raw).map_err(|_| RpError::Config(wrong)))
}

/// A whole number of seconds, or `None` when absent or `null`.
fn seconds(raw: Raw<'_>, wrong: &'static str) -> Result<Option<u64>, RpError> {
    raw.map_or(Ok(None), |raw| json::from_slice(raw).map_err(|_| RpError::Config(wrong)))
}

impl ClientConfig {
    /// A client from `createClient`'s options as JSON: `issuer`, `clientId`,
    /// `redirectUri` (required), `scope`, `postLogoutRedirectUri`, `leewaySeconds`
    /// (0 to 300).
    ///
    /// # Errors
    ///
    /// [`RpError::Config`] naming the missing or unusable option.
    pub fn from_options_json(options: &str) -> Result<Self, RpError> {
        let (mut issuer, mut client_id, mut redirect_uri) = (None, None, None);
        let (mut scope, mut post_logout, mut leeway) = (None, None, None);
        members(options, "createClient needs an options object", &mut |key, raw| {
            let slot = match key {
                "issuer" => &mut issuer,
                "clientId" => &mut client_id,
                "redirectUri" => &mut redirect_uri,
                "scope" => &mut scope,
                "postLogoutRedirectUri" => &mut post_logout,
                "leewaySeconds" => &mut leeway,
                _ => return Ok(()),
            };
            *slot = (raw != b"null").then_some(raw);
            Ok(())
        })?;
        let required =
            |raw: Raw<'_>, wrong, missing| text(raw, wrong)?.ok_or(RpError::Config(missing));
        let mut config = Self::new(
            &required(issuer, "issuer must be a string", "issuer is required")?,
            &required(client_id, "clientId must be a string", "clientId is required")?,
            &required(redirect_uri, "redirectUri must be a string", "redirectUri is required")?,
            &text(scope, "scope must be a string")?.unwrap_or_default(),
        )?;
        if let Some(uri) = text(post_logout, "postLogoutRedirectUri must be a string")? {
            config = config.with_post_logout_redirect_uri(&uri)?;
        }
        const LEEWAY: &str = "leewaySeconds must be a whole number from 0 to 300";
        if let Some(secs) = seconds(leeway, LEEWAY)? {
            if secs > crate::verify::MAX_LEEWAY_SECS {
                return Err(RpError::Config(LEEWAY));
            }
            config = config.with_leeway(secs);
        }
        Ok(config)
    }
}

/// `extraParams`: an object of string values.
struct ExtraParams(Vec<(String, String)>);

impl json::Read for ExtraParams {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let mut params = Vec::new();
        r.object(&mut |r, key| {
            params.push((key.to_owned(), String::read(r)?));
            Ok(())
        })?;
        Ok(Self(params))
    }
}

impl LoginOptions {
    /// A login's options as JSON: `prompt`, `loginHint`, `maxAge` (whole seconds),
    /// `responseMode`, `extraParams` (an object of strings). An empty text is no
    /// options.
    ///
    /// # Errors
    ///
    /// [`RpError::Config`] naming the unusable option.
    pub fn from_options_json(options: &str) -> Result<Self, RpError> {
        if options.trim().is_empty() {
            return Ok(Self::default());
        }
        let (mut prompt, mut login_hint, mut max_age) = (None, None, None);
        let (mut response_mode, mut extra) = (None, None);
        members(options, "login options must be an object", &mut |key, raw| {
            let slot = match key {
                "prompt" => &mut prompt,
                "loginHint" => &mut login_hint,
                "maxAge" => &mut max_age,
                "responseMode" => &mut response_mode,
                "extraParams" => &mut extra,
                _ => return Ok(()),
            };
            *slot = (raw != b"null").then_some(raw);
            Ok(())
        })?;
        let extra: Option<ExtraParams> = extra
            .map(json::from_slice)
            .transpose()
            .map_err(|_| RpError::Config("extraParams must be an object of strings"))?;
        Ok(Self {
            prompt: text(prompt, "prompt must be a string")?,
            login_hint: text(login_hint, "loginHint must be a string")?,
            max_age: seconds(max_age, "maxAge must be a whole number of seconds")?,
            response_mode: text(response_mode, "responseMode must be a string")?,
            extra: extra.map(|e| e.0).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(json: &str) -> Result<ClientConfig, RpError> {
        ClientConfig::from_options_json(json)
    }

    #[test]
    fn a_client_from_its_options() {
        let c = config(
            r#"{"issuer":"https://id.example.com","clientId":"spa","redirectUri":"https://app.example.com/cb",
               "scope":"profile email","leewaySeconds":30,"refreshTokenStorage":"local","postLogoutRedirectUri":null}"#,
        )
        .unwrap();
        assert_eq!(c.issuer(), "https://id.example.com");
        assert_eq!(c.client_id(), "spa");
        assert_eq!(c.scope(), "openid profile email");
        assert_eq!(c.leeway_secs, 30);
        assert_eq!(c.post_logout_redirect_uri, None);
    }

    #[test]
    fn each_unusable_option_is_named() {
        let base = r#""issuer":"https://id.example.com","clientId":"spa","redirectUri":"https://app.example.com/cb""#;
        let cases = [
            ("null".to_owned(), "options object"),
            (String::new(), "options object"),
            ("[1]".to_owned(), "options object"),
            (r#"{"issuer":"https://id.example.com"}"#.to_owned(), "clientId is required"),
            (
                r#"{"issuer":7,"clientId":"spa","redirectUri":"https://a.example/cb"}"#.to_owned(),
                "issuer must be",
            ),
            (format!(r#"{{{base},"scope":["openid"]}}"#), "scope must be"),
            (format!(r#"{{{base},"leewaySeconds":301}}"#), "leewaySeconds"),
            (format!(r#"{{{base},"leewaySeconds":1.5}}"#), "leewaySeconds"),
            (format!(r#"{{{base},"leewaySeconds":"30"}}"#), "leewaySeconds"),
            (format!(r#"{{{base},"postLogoutRedirectUri":"/home"}}"#), "postLogoutRedirectUri"),
            (format!(r#"{{{base}}} trailing"#), "options object"),
        ];
        for (json, named) in cases {
            let error = config(&json).expect_err(&json);
            assert_eq!(error.code(), "invalid_config");
            assert!(error.to_string().contains(named), "{json}: {error}");
        }
        let plain_http = r#"{"issuer":"http://id.example.com","clientId":"spa","redirectUri":"https://a.example/cb"}"#;
        assert!(config(plain_http).unwrap_err().to_string().contains("https"));
    }

    #[test]
    fn login_options() {
        assert_eq!(LoginOptions::from_options_json("").unwrap(), LoginOptions::default());
        let login = LoginOptions::from_options_json(
            r#"{"prompt":"login","loginHint":"ada@example.com","maxAge":0,"responseMode":null,
               "extraParams":{"ui_locales":"de","resource":"https://api.example.com"}}"#,
        )
        .unwrap();
        assert_eq!(login.prompt.as_deref(), Some("login"));
        assert_eq!(login.login_hint.as_deref(), Some("ada@example.com"));
        assert_eq!(login.max_age, Some(0));
        assert_eq!(login.response_mode, None);
        assert_eq!(
            login.extra,
            [
                ("ui_locales".into(), "de".into()),
                ("resource".into(), "https://api.example.com".into())
            ]
        );
        for (json, named) in [
            (r#"{"extraParams":{"n":1}}"#, "extraParams"),
            (r#"{"extraParams":"a=b"}"#, "extraParams"),
            (r#"{"maxAge":-1}"#, "maxAge"),
            (r#"{"prompt":true}"#, "prompt"),
            ("7", "object"),
        ] {
            let error = LoginOptions::from_options_json(json).expect_err(json);
            assert!(error.to_string().contains(named), "{json}: {error}");
        }
    }
}
