//! Scopes, scope groups, permissions, roles and users through the management API.

use gatehouse_testkit::{Scenario, body_json};
use http::Method;
use serde_json::{Value, json};

fn call(
    s: &Scenario,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> http::Response<Vec<u8>> {
    s.admin(method, path, token, body, &[])
}

fn pointers(response: &http::Response<Vec<u8>>) -> Vec<String> {
    body_json(response)["errors"].as_array().map_or_else(Vec::new, |e| {
        e.iter().map(|e| e["pointer"].as_str().unwrap().to_owned()).collect()
    })
}

#[test]
fn system_scopes_are_listed_and_cannot_be_changed() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let list = body_json(&call(&s, &t, Method::GET, "/admin/v1/scopes", None));
    let keys: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    for key in [
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
        "groups",
        "gatehouse:admin",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    assert_eq!(call(&s, &t, Method::DELETE, "/admin/v1/scopes/openid", None).status(), 409);
    assert_eq!(
        call(&s, &t, Method::PATCH, "/admin/v1/scopes/gatehouse%3Aadmin", Some(json!({}))).status(),
        409
    );
    let create_system =
        call(&s, &t, Method::POST, "/admin/v1/scopes", Some(json!({"key": "email"})));
    assert_eq!(pointers(&create_system), vec!["/key"]);
}

#[test]
fn custom_scopes_with_localized_descriptions_and_groups() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let group = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/scope-groups",
        Some(json!({"name": "Orders", "description": {"en": "Orders"}})),
    );
    assert_eq!(group.status(), 201);
    let group_id = body_json(&group)["id"].as_str().unwrap().to_owned();
    let created = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/scopes",
        Some(json!({
            "key": "orders:read",
            "description": {"en": "Read orders", "de": "Bestellungen lesen"},
            "security_level": "confidential",
            "group": group_id,
            "requires_consent": false
        })),
    );
    assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    let fetched = body_json(&call(&s, &t, Method::GET, "/admin/v1/scopes/orders%3Aread", None));
    assert_eq!(fetched["description"]["de"], "Bestellungen lesen");
    assert_eq!(fetched["security_level"], "confidential");
    assert_eq!(
        call(&s, &t, Method::POST, "/admin/v1/scopes", Some(json!({"key": "orders:read"})))
            .status(),
        409
    );
    let bad = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/scopes",
        Some(json!({
            "key": "bad scope", "description": {"english": "x"}, "security_level": "secret", "group": "nope"
        })),
    );
    let p = pointers(&bad);
    for expected in ["/key", "/description/english", "/security_level"] {
        assert!(p.contains(&expected.to_owned()), "{expected} in {p:?}");
    }
    let unknown_group = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/scopes",
        Some(json!({"key": "a:b", "group": "nope"})),
    );
    assert_eq!(pointers(&unknown_group), vec!["/group"]);
    let patched = call(
        &s,
        &t,
        Method::PATCH,
        "/admin/v1/scopes/orders:read",
        Some(json!({"description": {"en": "Read all orders", "de": null}})),
    );
    assert_eq!(body_json(&patched)["description"], json!({"en": "Read all orders"}));
    assert_eq!(call(&s, &t, Method::DELETE, "/admin/v1/scopes/orders:read", None).status(), 204);
    assert_eq!(call(&s, &t, Method::GET, "/admin/v1/scopes/orders:read", None).status(), 404);
}

fn app(s: &Scenario, t: &str, name: &str) -> String {
    let created = call(
        s,
        t,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": name, "type": "s2s"})),
    );
    body_json(&created)["client_id"].as_str().unwrap().to_owned()
}

#[test]
fn permissions_roles_and_deleting_a_permission_removes_it_everywhere() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let client = app(&s, &t, "orders_api");
    let perms = format!("/admin/v1/apps/{client}/permissions");
    for name in ["read_orders", "write_orders"] {
        assert_eq!(
            call(&s, &t, Method::POST, &perms, Some(json!({"name": name, "description": "d"})))
                .status(),
            201
        );
    }
    assert_eq!(
        call(&s, &t, Method::POST, &perms, Some(json!({"name": "read_orders"}))).status(),
        409
    );
    assert_eq!(
        pointers(&call(&s, &t, Method::POST, &perms, Some(json!({"name": "x".repeat(31)})))),
        vec!["/name"]
    );
    assert_eq!(
        pointers(&call(
            &s,
            &t,
            Method::POST,
            &perms,
            Some(json!({"name": "ok", "description": "d".repeat(121)}))
        )),
        vec!["/description"]
    );

    let role = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/roles",
        Some(json!({
            "name": "clerk",
            "permissions": [{"client_id": client, "name": "read_orders"}, {"client_id": client, "name": "write_orders"}]
        })),
    );
    assert_eq!(role.status(), 201, "{:?}", body_json(&role));
    let role_id = body_json(&role)["id"].as_str().unwrap().to_owned();
    let unknown = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/roles",
        Some(json!({"name": "x", "permissions": [{"client_id": client, "name": "nope"}]})),
    );
    assert_eq!(pointers(&unknown), vec!["/permissions/0/name"]);

    assert_eq!(call(&s, &t, Method::DELETE, &format!("{perms}/write_orders"), None).status(), 204);
    let role = body_json(&call(&s, &t, Method::GET, &format!("/admin/v1/roles/{role_id}"), None));
    let names: Vec<&str> = role["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_orders"]);
    // A new permission of the old name is not the deleted one.
    call(&s, &t, Method::POST, &perms, Some(json!({"name": "write_orders"})));
    let role = body_json(&call(&s, &t, Method::GET, &format!("/admin/v1/roles/{role_id}"), None));
    assert_eq!(role["permissions"].as_array().unwrap().len(), 1);
}

#[test]
fn fifty_permissions_at_most() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let client = app(&s, &t, "big");
    let perms = format!("/admin/v1/apps/{client}/permissions");
    for i in 0..50 {
        assert_eq!(
            call(&s, &t, Method::POST, &perms, Some(json!({"name": format!("p{i}")}))).status(),
            201
        );
    }
    assert_eq!(call(&s, &t, Method::POST, &perms, Some(json!({"name": "p50"}))).status(), 400);
}

#[test]
fn users_with_standard_claims_and_a_write_only_password() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let created = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/users",
        Some(json!({
            "username": "ada",
            "password": "analytical engine",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "email_verified": true,
            "phone_number": "+442071234567",
            "address": {"locality": "London", "country": "GB"},
            "birthdate": "1815-12-10"
        })),
    );
    assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    let text = String::from_utf8(created.body().clone()).unwrap();
    assert!(
        !text.contains("analytical") && !text.contains("argon2"),
        "no password, not even hashed: {text}"
    );
    let user = body_json(&created);
    assert_eq!(user["has_password"], true);
    assert_eq!(user["address"]["locality"], "London");
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&s, &t, Method::POST, "/admin/v1/users", Some(json!({"username": "ADA"}))).status(),
        409
    );
    let bad = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/users",
        Some(json!({
            "username": "x", "password": "short", "email": "nope", "phone_number": "123", "nickname": 5, "shoe_size": 9
        })),
    );
    let p = pointers(&bad);
    for expected in ["/username", "/password", "/email", "/phone_number", "/nickname", "/shoe_size"]
    {
        assert!(p.contains(&expected.to_owned()), "{expected} in {p:?}");
    }
    let path = format!("/admin/v1/users/{id}");
    let patched = body_json(&call(
        &s,
        &t,
        Method::PATCH,
        &path,
        Some(json!({"email": null, "given_name": "Ada"})),
    ));
    assert!(patched.get("email").is_none());
    assert_eq!(patched["given_name"], "Ada");
    assert_eq!(
        call(&s, &t, Method::POST, &format!("{path}/password"), Some(json!({"password": "ada"})))
            .status(),
        400
    );
    assert_eq!(
        call(
            &s,
            &t,
            Method::POST,
            &format!("{path}/password"),
            Some(json!({"password": "difference engine"}))
        )
        .status(),
        204
    );
    assert_eq!(
        body_json(&call(&s, &t, Method::POST, &format!("{path}/disable"), None))["enabled"],
        false
    );
    let listed = call(&s, &t, Method::GET, "/admin/v1/users", None);
    assert!(!String::from_utf8(listed.body().clone()).unwrap().contains("argon2"));
    assert_eq!(call(&s, &t, Method::DELETE, &path, None).status(), 204);
    assert_eq!(call(&s, &t, Method::GET, &path, None).status(), 404);
}

#[test]
fn users_get_existing_roles_only() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let role =
        body_json(&call(&s, &t, Method::POST, "/admin/v1/roles", Some(json!({"name": "clerk"}))));
    let role_id = role["id"].as_str().unwrap();
    let ok = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/users",
        Some(json!({"username": "bob", "roles": [role_id]})),
    );
    assert_eq!(ok.status(), 201);
    let bad = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/users",
        Some(json!({"username": "eve", "roles": [role_id, "nope"]})),
    );
    assert_eq!(pointers(&bad), vec!["/roles/1"]);
}

#[test]
fn stored_passwords_verify_with_argon2id() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let user = body_json(&call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/users",
        Some(json!({"username": "carol", "password": "correct horse"})),
    ));
    let id = user["id"].as_str().unwrap();
    let record = pollster::block_on(gatehouse_core::store::Registry::read(
        &s.engine.platform().registry,
        &format!("users/{id}"),
    ))
    .unwrap()
    .unwrap();
    let hash = record.record["password_hash"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(gatehouse_core::password::verify("correct horse", hash));
    assert!(!gatehouse_core::password::verify("Correct horse", hash));
}

#[test]
fn public_scopes_are_open_to_every_app_confidential_ones_only_when_granted() {
    let s = Scenario::default();
    let t = s.bearer(None);
    for (key, level) in [("catalog:read", "public"), ("payouts:write", "confidential")] {
        let created = call(
            &s,
            &t,
            Method::POST,
            "/admin/v1/scopes",
            Some(json!({"key": key, "security_level": level})),
        );
        assert_eq!(created.status(), 201);
    }
    let plain = body_json(&call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": "plain", "type": "s2s"})),
    ));
    let granted = body_json(&call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": "granted", "type": "s2s", "scope": "payouts:write"})),
    ));
    let token = |app: &Value, scope: &str| {
        let response = s.post_form(
            "/token",
            &format!("grant_type=client_credentials&scope={}", scope.replace(':', "%3A")),
            Some((app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap())),
        );
        (response.status(), body_json(&response))
    };
    assert_eq!(token(&plain, "catalog:read").0, 200);
    assert_eq!(token(&plain, "payouts:write").1["error"], "invalid_scope");
    assert_eq!(token(&granted, "payouts:write").0, 200);
    assert_eq!(token(&plain, "unknown:scope").1["error"], "invalid_scope");
}

/// Regression: a scope created without `security_level` was public, so every
/// server-to-server app could request it.
#[test]
fn scopes_are_confidential_unless_created_public() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let created =
        call(&s, &t, Method::POST, "/admin/v1/scopes", Some(json!({"key": "ledger:read"})));
    assert_eq!(created.status(), 201);
    assert_eq!(body_json(&created)["security_level"], "confidential");
    let app = body_json(&call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": "stranger", "type": "s2s"})),
    ));
    let response = s.post_form(
        "/token",
        "grant_type=client_credentials&scope=ledger%3Aread",
        Some((app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap())),
    );
    assert_eq!(body_json(&response)["error"], "invalid_scope");
}

#[test]
fn scope_pages_respect_the_limit_through_system_and_custom_scopes() {
    let s = Scenario::default();
    let t = s.bearer(None);
    for i in 0..3 {
        call(&s, &t, Method::POST, "/admin/v1/scopes", Some(json!({"key": format!("custom:{i}")})));
    }
    let mut keys = Vec::new();
    let mut path = "/admin/v1/scopes?limit=5".to_owned();
    loop {
        let page = body_json(&call(&s, &t, Method::GET, &path, None));
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        keys.extend(items.iter().map(|i| i["key"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/v1/scopes?limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(keys.len(), 7 + 16 + 3, "{keys:?}");
    assert!(keys.ends_with(&["custom:0".to_owned(), "custom:1".to_owned(), "custom:2".to_owned()]));
    let forged = call(&s, &t, Method::GET, "/admin/v1/scopes?cursor=garbage", None);
    assert_eq!(pointers(&forged), vec!["cursor"]);
}

#[test]
fn permission_items_carry_etags_and_refuse_stale_if_match() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let client = app(&s, &t, "etags");
    let perms = format!("/admin/v1/apps/{client}/permissions");
    let created = call(&s, &t, Method::POST, &perms, Some(json!({"name": "read"})));
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let stale = s.admin(
        Method::PATCH,
        &format!("{perms}/read"),
        &t,
        Some(json!({"description": "x"})),
        &[("if-match", "\"999\"")],
    );
    assert_eq!(stale.status(), 412);
    let fresh = s.admin(
        Method::PATCH,
        &format!("{perms}/read"),
        &t,
        Some(json!({"description": "x"})),
        &[("if-match", etag.as_str())],
    );
    assert_eq!(fresh.status(), 200);
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
    let forged = call(
        &s,
        &t,
        Method::POST,
        "/admin/v1/roles",
        Some(
            json!({"name": "r", "permissions": [{"client_id": client, "name": "read", "colour": 1}]}),
        ),
    );
    assert_eq!(pointers(&forged), vec!["/permissions/0"]);
}

#[test]
fn head_works_where_get_does_and_the_bare_prefix_is_a_problem() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let head = s.admin(Method::HEAD, "/admin/v1/apps", &t, None, &[]);
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    let bare = call(&s, &t, Method::GET, "/admin/v1", None);
    assert_eq!(bare.status(), 404);
    assert_eq!(bare.headers()["content-type"], "application/problem+json");
}

#[test]
fn deleting_an_app_takes_its_permissions_with_it() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let client = app(&s, &t, "gone");
    call(
        &s,
        &t,
        Method::POST,
        &format!("/admin/v1/apps/{client}/permissions"),
        Some(json!({"name": "p"})),
    );
    assert_eq!(
        call(&s, &t, Method::DELETE, &format!("/admin/v1/apps/{client}"), None).status(),
        204
    );
    let record = pollster::block_on(gatehouse_core::store::Registry::read(
        &s.engine.platform().registry,
        &format!("permissions/{client}"),
    ))
    .unwrap();
    assert!(record.is_none());
}

/// A new s2s app's id and secret.
pub(crate) fn s2s(s: &Scenario, t: &str, name: &str) -> (String, String) {
    let created = call(
        s,
        t,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": name, "type": "s2s"})),
    );
    assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    let app = body_json(&created);
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// The status of a client_credentials request with Basic `id:secret`.
pub(crate) fn token_status(s: &Scenario, id: &str, secret: &str) -> u16 {
    s.post_form("/token", "grant_type=client_credentials", Some((id, secret))).status().as_u16()
}

fn published_version(s: &Scenario, key: &str) -> Option<u64> {
    use gatehouse_core::store::Directory;
    let bytes = pollster::block_on(s.engine.platform().directory.origin().get(key)).unwrap()?;
    serde_json::from_slice::<gatehouse_core::store::Versioned>(&bytes).ok().map(|v| v.version)
}

#[test]
fn a_commit_the_directory_refuses_is_a_success_and_converges_after_a_retry() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let (id, secret) = s2s(&s, &t, "outbox_job");
    assert_eq!(token_status(&s, &id, &secret), 200);
    let directory = s.engine.platform().directory.origin();
    let registry = &s.engine.platform().registry;
    let writes_before = directory.writes.get();

    // KV refuses writes (its per-key rate limit, an outage): the commit stands and
    // says so; the directory keeps the old record until a retry publishes.
    directory.write_outage.set(true);
    let disabled = call(&s, &t, Method::POST, &format!("/admin/v1/apps/{id}/disable"), None);
    assert_eq!(disabled.status(), 200, "{:?}", body_json(&disabled));
    assert_eq!(body_json(&disabled)["enabled"], false);
    let read = call(&s, &t, Method::GET, &format!("/admin/v1/apps/{id}"), None);
    assert_eq!(body_json(&read)["enabled"], false, "the registry holds the change");
    assert_eq!(registry.pending(), 1);
    assert_eq!(registry.retry_in(), Some(1));
    assert_eq!(published_version(&s, &format!("apps/{id}")), Some(1));
    assert_eq!(token_status(&s, &id, &secret), 200, "not yet published");
    // A secret reset while the retry waits replaces the pending publication.
    let reset = call(&s, &t, Method::POST, &format!("/admin/v1/apps/{id}/secret"), None);
    assert_eq!(reset.status(), 200);
    let new_secret = body_json(&reset)["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(registry.pending(), 1, "one pending publication per key: the newest");
    assert!(pollster::block_on(registry.publish_pending()).is_err(), "still refused");
    assert_eq!(registry.retry_in(), Some(4), "the retry backs off (third failure in a row)");

    directory.write_outage.set(false);
    pollster::block_on(registry.publish_pending()).unwrap();
    assert_eq!(registry.pending(), 0);
    assert_eq!(published_version(&s, &format!("apps/{id}")), Some(3), "the newest version");
    assert_eq!(token_status(&s, &id, &secret), 401, "disabled, old secret gone");
    assert_eq!(token_status(&s, &id, &new_secret), 401, "disabled");
    // Only the registry wrote the directory: one write per publication.
    assert_eq!(directory.writes.get() - writes_before, 1);
    let enabled = call(&s, &t, Method::POST, &format!("/admin/v1/apps/{id}/enable"), None);
    assert_eq!(enabled.status(), 200);
    assert_eq!(token_status(&s, &id, &new_secret), 200);
    assert_eq!(directory.writes.get() - writes_before, 2);
}

#[test]
fn a_new_app_and_a_deletion_published_late_still_reach_the_token_endpoint() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let directory = s.engine.platform().directory.origin();
    let registry = &s.engine.platform().registry;
    directory.write_outage.set(true);
    let (id, secret) = s2s(&s, &t, "late_job");
    assert_eq!(token_status(&s, &id, &secret), 401, "not yet in the directory");
    directory.write_outage.set(false);
    pollster::block_on(registry.publish_pending()).unwrap();
    assert_eq!(token_status(&s, &id, &secret), 200);

    directory.write_outage.set(true);
    let deleted = call(&s, &t, Method::DELETE, &format!("/admin/v1/apps/{id}"), None);
    assert_eq!(deleted.status(), 204);
    assert_eq!(registry.pending(), 3, "the app and its cascaded permission set and hooks");
    assert_eq!(token_status(&s, &id, &secret), 200, "until published");
    directory.write_outage.set(false);
    pollster::block_on(registry.publish_pending()).unwrap();
    // The publication came late, after this isolate last forgot its reads: it
    // still holds the app for the read cache's few seconds, and refuses it after.
    assert_eq!(token_status(&s, &id, &secret), 200, "within the read cache's bound");
    s.clock.advance(gatehouse_core::cache::RECORD_TTL_SECS);
    assert_eq!(token_status(&s, &id, &secret), 401);
    assert_eq!(published_version(&s, &format!("apps/{id}")), None);
}
