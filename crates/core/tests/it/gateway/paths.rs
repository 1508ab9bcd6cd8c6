//! Path and method bypass: every spelling of a path is matched in one normal form,
//! what could still be read two ways is refused with 400, and exactly the matched
//! path is forwarded.

use super::*;

const ROUTES: &str = r#"
[[routes]]
prefix = "/api/admin"
case_insensitive = true
scopes = ["admin"]

[[routes]]
prefix = "/api/orders"
methods = ["PATCH", "DELETE"]
scopes = ["orders:write"]

[[routes]]
prefix = "/api/Reports"
scopes = ["reports"]

[[routes]]
prefix = "/api/"

[[routes]]
prefix = "/public/"
public = true
"#;

fn paths_gateway() -> Gateway {
    let text = format!(
        "issuer = \"{ISSUER}\"\norigin = \"http://127.0.0.1:9000\"\naudience = \"{API}\"\n{ROUTES}"
    );
    Gateway::new(GatewayConfig::from_toml(&text).unwrap())
}

/// What a request line should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Matched by rule `n` and forwarded with this path.
    Rule(usize, &'static str),
    /// Refused with 400.
    Ambiguous,
    /// No rule.
    Unmatched,
}

use Expect::{Ambiguous, Rule, Unmatched};

const ADMIN: usize = 0;
const ORDERS: usize = 1;
const REPORTS: usize = 2;
const API_ANY: usize = 3;
const PUBLIC: usize = 4;

const TABLE: &[(&str, &str, Expect)] = &[
    ("GET", "/api/admin/users", Rule(ADMIN, "/api/admin/users")),
    ("GET", "/api/admin", Rule(ADMIN, "/api/admin")),
    ("GET", "/api/admin/", Rule(ADMIN, "/api/admin/")),
    // Percent-encoded unreserved characters are decoded before matching.
    ("GET", "/api/%61dmin/users", Rule(ADMIN, "/api/admin/users")),
    ("GET", "/api/%61%64%6D%69%6E", Rule(ADMIN, "/api/admin")),
    ("GET", "/api/%41DMIN", Rule(ADMIN, "/api/ADMIN")),
    ("GET", "/%61pi/admin", Rule(ADMIN, "/api/admin")),
    // Case-insensitive rule: any case of the prefix; the path is forwarded as sent.
    ("GET", "/API/admin", Rule(ADMIN, "/API/admin")),
    ("GET", "/api/ADMIN/users", Rule(ADMIN, "/api/ADMIN/users")),
    // Prefixes match whole segments.
    ("GET", "/api/administrators", Rule(API_ANY, "/api/administrators")),
    ("GET", "/api/admin%20x", Rule(API_ANY, "/api/admin%20x")),
    ("GET", "/api/adm%69n%3fx", Rule(API_ANY, "/api/admin%3Fx")),
    // Empty segments, path parameters, dot segments, encoded delimiters: 400.
    ("GET", "/api//admin", Ambiguous),
    ("GET", "//api/admin", Ambiguous),
    ("GET", "/api/admin;x/", Ambiguous),
    ("GET", "/api/admin;jsessionid=1", Ambiguous),
    ("GET", "/api/admin%3Bx", Ambiguous),
    ("GET", "/api/./admin", Ambiguous),
    ("GET", "/api/x/../admin", Ambiguous),
    ("GET", "/api/%2e%2e/admin", Ambiguous),
    ("GET", "/api/%2E/admin", Ambiguous),
    ("GET", "/api%2Fadmin", Ambiguous),
    ("GET", "/api/admin%2fusers", Ambiguous),
    ("GET", "/api\\admin", Ambiguous),
    ("GET", "/api/%5cadmin", Ambiguous),
    ("GET", "/public/x%00", Ambiguous),
    ("GET", "/api/%zz", Ambiguous),
    ("GET", "/api/admin%", Ambiguous),
    ("GET", "/api/admin\t", Ambiguous),
    ("GET", "/api/adm\u{ed}n", Ambiguous),
    ("GET", "api/admin", Ambiguous),
    // Methods: only upper-case spellings are matched; others are 400, never a
    // fall-through to a looser rule.
    ("PATCH", "/api/orders/1", Rule(ORDERS, "/api/orders/1")),
    ("DELETE", "/api/orders", Rule(ORDERS, "/api/orders")),
    ("patch", "/api/orders/1", Ambiguous),
    ("Patch", "/api/orders/1", Ambiguous),
    ("get", "/api/admin", Ambiguous),
    ("GET", "/api/orders/1", Rule(API_ANY, "/api/orders/1")),
    ("PROPFIND", "/api/x", Rule(API_ANY, "/api/x")),
    // A case-sensitive rule matches only its own case (for a case-sensitive origin,
    // /api/reports is another resource).
    ("GET", "/api/Reports/x", Rule(REPORTS, "/api/Reports/x")),
    ("GET", "/api/%52eports", Rule(REPORTS, "/api/Reports")),
    ("GET", "/api/reports", Rule(API_ANY, "/api/reports")),
    // Other escapes keep their meaning, hex upper-cased.
    ("GET", "/public/%7euser", Rule(PUBLIC, "/public/~user")),
    ("GET", "/public/a%c3%a9", Rule(PUBLIC, "/public/a%C3%A9")),
    ("GET", "/public/a%C3%A9", Rule(PUBLIC, "/public/a%C3%A9")),
    ("GET", "/public/%2561", Rule(PUBLIC, "/public/%2561")),
    ("GET", "/nowhere", Unmatched),
    ("GET", "/api", Unmatched),
    ("GET", "/", Unmatched),
];

#[test]
fn path_and_method_bypass_table() {
    assert!(TABLE.len() >= 25);
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    // A valid token with every scope a rule asks for: what happens is decided by
    // the path and method alone.
    let all = issuer.token(json!({"scope": "admin orders:write reports"}), now);
    let auth = bearer(&all);
    let mut gw = paths_gateway();
    for &(method, path, expect) in TABLE {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let routed = gw.route(&method, path);
        let req = Inbound { method: &method, ..get(path, Some(&auth)) };
        let step = send(&mut gw, &issuer, &req, now).step;
        match expect {
            Rule(rule, forwarded) => {
                let (index, normal) = routed.unwrap().unwrap();
                assert_eq!((index, normal.as_ref()), (rule, forwarded), "{method} {path}");
                let Step::Forward(f) = &step else { panic!("{method} {path}: {}", status(&step)) };
                assert_eq!(
                    f.target("http://o", path, Some("q=%2F%61")),
                    format!("http://o{forwarded}?q=%2F%61"),
                    "{method} {path}: the matched path, the query unchanged"
                );
                assert_eq!(f.path.is_none(), path == forwarded, "{method} {path}: borrowed");
            }
            Ambiguous => {
                assert!(routed.is_err(), "{method} {path}: {routed:?}");
                assert_eq!(status(&step), StatusCode::BAD_REQUEST, "{method} {path}");
            }
            Unmatched => {
                assert!(matches!(routed, Ok(None)), "{method} {path}: {routed:?}");
                assert_eq!(status(&step), StatusCode::NOT_FOUND, "{method} {path}");
            }
        }
    }
}

#[test]
fn a_protected_rule_is_not_bypassed_by_another_spelling() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    // No `admin` scope: the protected rule answers 403, the looser one would forward.
    let auth = bearer(&issuer.token(json!({"scope": "orders:read"}), now));
    let mut gw = paths_gateway();
    for path in ["/api/admin/users", "/api/%61dmin/users", "/API/admin", "/api/Admin%2Dx/../"] {
        let step = send(&mut gw, &issuer, &get(path, Some(&auth)), now).step;
        assert!(
            matches!(status(&step), StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST),
            "{path}: {}",
            status(&step)
        );
    }
    for path in ["/api//admin", "/api/admin;x/"] {
        let step = send(&mut gw, &issuer, &get(path, Some(&auth)), now).step;
        assert_eq!(status(&step), StatusCode::BAD_REQUEST, "{path}");
    }
    let patch = Method::from_bytes(b"patch").unwrap();
    let req = Inbound { method: &patch, ..get("/api/orders/1", Some(&auth)) };
    assert_eq!(status(&send(&mut gw, &issuer, &req, now).step), StatusCode::BAD_REQUEST);
}

#[test]
fn route_prefixes_must_be_plain_paths() {
    for prefix in [
        "api",
        "/api//x",
        "//",
        "/api;x",
        "/a/../b",
        "/a/./b",
        "/..",
        "/a b",
        "/a%41",
        "/a\\b",
        "/a?b",
        "/a#b",
        "/caf\u{e9}",
        "/a:b",
    ] {
        let text = format!(
            "issuer = \"{ISSUER}\"\norigin = \"http://o\"\naudience = \"{API}\"\n[[routes]]\nprefix = {prefix:?}\n"
        );
        let err = GatewayConfig::from_toml(&text).unwrap_err();
        assert_eq!(err.line, 5, "{prefix}: {err}");
        assert!(err.message.contains("prefix"), "{prefix}: {err}");
    }
    for prefix in ["/", "/api", "/api/", "/v1.2/a-b_c~d/", "/.well-known/x"] {
        let text = format!(
            "issuer = \"{ISSUER}\"\norigin = \"http://o\"\naudience = \"{API}\"\n[[routes]]\nprefix = {prefix:?}\n"
        );
        assert!(GatewayConfig::from_toml(&text).is_ok(), "{prefix}");
    }
}
