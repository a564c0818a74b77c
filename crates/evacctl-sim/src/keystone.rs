//! Keystone v3 under `/identity`: version documents, token issue (password, application
//! credential, token), validation and revocation, and the catalog pointing back at this server.
//! Also the token check that every other API runs first (keystonemiddleware's role).

use axum::http::Method;
use serde_json::{Value, json};

use super::http::{Reply, SimRequest, keystone_error, unauthorized};
use super::world::World;

pub mod state;
// The state keeps its old paths (`keystone::Identity`).
pub use self::state::*;

/// Checks `X-Auth-Token` for an API request: the caller, or the 401 to answer.
pub fn authenticate(world: &World, req: &SimRequest) -> Result<AuthContext, Reply> {
    let token = req
        .header("x-auth-token")
        .and_then(|t| world.identity.valid_token(t.trim(), req.now))
        .ok_or_else(|| unauthorized(&req.base_url))?;
    Ok(AuthContext {
        user_id: token.user_id.clone(),
        project_id: match &token.scope {
            Scope::Project(p) => Some(p.clone()),
            _ => None,
        },
        roles: token.roles.clone(),
    })
}

/// A project-scoped token by password, issued in-process (for the other APIs' unit tests).
#[cfg(test)]
pub(crate) fn token_for_tests(
    world: &mut World,
    user: &str,
    password: &str,
    project: &str,
) -> String {
    let mut req = SimRequest::new(axum::http::Method::POST, "/identity/v3/auth/tokens");
    req.body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
    .to_string()
    .into_bytes();
    let r = handle(world, &req);
    r.headers
        .iter()
        .find(|(k, _)| k == "x-subject-token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Routes `/identity/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let segs = req.segs();
    let rest = segs.get(1..).unwrap_or(&[]);
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match rest {
        [] if get => versions(req),
        ["v3"] if get => Reply::json(200, json!({ "version": v3_doc(&req.base_url) })),
        ["v3", "auth", "tokens"] => match req.method {
            Method::POST => issue_token(world, req),
            Method::GET | Method::HEAD => validate_token(world, req),
            Method::DELETE => revoke_token(world, req),
            _ => keystone_error(405, "The method is not allowed for the requested URL."),
        },
        _ => keystone_error(404, "The resource could not be found."),
    }
}

fn v3_doc(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity`: Keystone answers 300 Multiple Choices with the one version it has.
fn versions(req: &SimRequest) -> Reply {
    Reply::json(
        300,
        json!({"versions": {"values": [v3_doc(&req.base_url)]}}),
    )
}

fn bad_request(message: &str) -> Reply {
    keystone_error(400, message)
}

/// Who authenticated, before the scope is applied.
struct Principal {
    user_id: String,
    app_cred: Option<AppCred>,
    /// For the `token` method: the token it was given.
    parent: Option<Token>,
}

fn get_obj<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, Reply> {
    match v.get(key) {
        Some(o) if o.is_object() => Ok(o),
        Some(_) => Err(bad_request(&format!(
            "Invalid input for field '{at}{key}': it is not of type 'object'."
        ))),
        None => Err(bad_request(&format!(
            "Invalid input for field '{at}': '{key}' is a required property."
        ))),
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A domain reference `{"id": ...}` or `{"name": ...}` resolved to an id (None: no such domain).
fn resolve_domain(identity: &Identity, d: &Value) -> Result<Option<String>, Reply> {
    if let Some(id) = get_str(d, "id") {
        return Ok(identity.domain(id).map(|d| d.id.clone()));
    }
    if let Some(name) = get_str(d, "name") {
        return Ok(identity
            .domains
            .iter()
            .find(|x| x.name == name)
            .map(|x| x.id.clone()));
    }
    Err(bad_request("Expecting to find id or name in domain."))
}

fn password_method(identity: &Identity, identity_req: &Value) -> Result<Principal, Reply> {
    let pw = get_obj(identity_req, "password", "identity/")?;
    let user = get_obj(pw, "user", "identity/password/")?;
    let Some(password) = get_str(user, "password") else {
        return Err(bad_request("Expecting to find password in user."));
    };
    let found = if let Some(id) = get_str(user, "id") {
        identity.user(id)
    } else if let Some(name) = get_str(user, "name") {
        let Some(domain) = user.get("domain").filter(|d| d.is_object()) else {
            return Err(bad_request("Expecting to find domain in user."));
        };
        let domain_id = resolve_domain(identity, domain)?;
        identity
            .users
            .iter()
            .find(|u| u.name == name && Some(&u.domain_id) == domain_id.as_ref())
    } else {
        return Err(bad_request("Expecting to find id or name in user."));
    };
    match found {
        Some(u) if u.password == password => Ok(Principal {
            user_id: u.id.clone(),
            app_cred: None,
            parent: None,
        }),
        _ => Err(unauthorized_plain()),
    }
}

fn app_cred_method(identity: &Identity, identity_req: &Value) -> Result<Principal, Reply> {
    let ac = get_obj(identity_req, "application_credential", "identity/")?;
    let Some(secret) = get_str(ac, "secret") else {
        return Err(bad_request(
            "Expecting to find secret in application_credential.",
        ));
    };
    let found = if let Some(id) = get_str(ac, "id") {
        identity.app_creds.iter().find(|a| a.id == id)
    } else if let Some(name) = get_str(ac, "name") {
        let Some(user) = ac.get("user").filter(|u| u.is_object()) else {
            return Err(bad_request(
                "Expecting to find user in application_credential.",
            ));
        };
        let user_id = if let Some(id) = get_str(user, "id") {
            Some(id.to_string())
        } else if let Some(uname) = get_str(user, "name") {
            let Some(domain) = user.get("domain").filter(|d| d.is_object()) else {
                return Err(bad_request("Expecting to find domain in user."));
            };
            let did = resolve_domain(identity, domain)?;
            identity
                .users
                .iter()
                .find(|u| u.name == uname && Some(&u.domain_id) == did.as_ref())
                .map(|u| u.id.clone())
        } else {
            return Err(bad_request("Expecting to find id or name in user."));
        };
        identity
            .app_creds
            .iter()
            .find(|a| a.name == name && Some(&a.user_id) == user_id.as_ref())
    } else {
        return Err(bad_request(
            "Expecting to find id or name in application_credential.",
        ));
    };
    match found {
        Some(a) if a.secret == secret => Ok(Principal {
            user_id: a.user_id.clone(),
            app_cred: Some(a.clone()),
            parent: None,
        }),
        _ => Err(unauthorized_plain()),
    }
}

fn token_method(identity: &Identity, identity_req: &Value, now: f64) -> Result<Principal, Reply> {
    let t = get_obj(identity_req, "token", "identity/")?;
    let Some(id) = get_str(t, "id") else {
        return Err(bad_request("Expecting to find id in token."));
    };
    let parent = identity
        .valid_token(id, now)
        .ok_or_else(unauthorized_plain)?;
    Ok(Principal {
        user_id: parent.user_id.clone(),
        app_cred: None,
        parent: Some(parent.clone()),
    })
}

/// Keystone's 401 for bad credentials (no WWW-Authenticate needed on the auth call itself).
fn unauthorized_plain() -> Reply {
    keystone_error(401, super::http::UNAUTHORIZED_MESSAGE)
}

/// The scope a request asks for, resolved and checked against the user's roles.
fn resolve_scope(identity: &Identity, user: &User, scope: &Value) -> Result<Scope, Reply> {
    if scope.as_str() == Some("unscoped") {
        return Ok(Scope::Unscoped);
    }
    if !scope.is_object() {
        return Err(bad_request(
            "Invalid input for field 'scope': it is not of type 'object'.",
        ));
    }
    if let Some(p) = scope.get("project") {
        let project = if let Some(id) = get_str(p, "id") {
            identity.project(id)
        } else if let Some(name) = get_str(p, "name") {
            let Some(domain) = p.get("domain").filter(|d| d.is_object()) else {
                return Err(bad_request("Expecting to find domain in project."));
            };
            let did = resolve_domain(identity, domain)?;
            identity
                .projects
                .iter()
                .find(|x| x.name == name && Some(&x.domain_id) == did.as_ref())
        } else {
            return Err(bad_request("Expecting to find id or name in project."));
        };
        // Roles are held on the user's own project only.
        return match project {
            Some(p) if p.id == user.project_id && !user.roles.is_empty() => {
                Ok(Scope::Project(p.id.clone()))
            }
            _ => Err(unauthorized_plain()),
        };
    }
    if let Some(d) = scope.get("domain") {
        if !d.is_object() {
            return Err(bad_request("Invalid input for field 'scope/domain'."));
        }
        return match resolve_domain(identity, d)? {
            Some(did) if did == user.domain_id && !user.roles.is_empty() => Ok(Scope::Domain(did)),
            _ => Err(unauthorized_plain()),
        };
    }
    if let Some(s) = scope.get("system") {
        if s.get("all").and_then(Value::as_bool) != Some(true) {
            return Err(bad_request("Invalid input for field 'scope/system'."));
        }
        return if user.roles.iter().any(|r| r == "admin") {
            Ok(Scope::System)
        } else {
            Err(unauthorized_plain())
        };
    }
    Err(bad_request(
        "Expecting to find project, domain or system in scope.",
    ))
}

fn issue_token(world: &mut World, req: &SimRequest) -> Reply {
    let body = match req.json() {
        Ok(v) => v,
        Err(_) => {
            return bad_request(
                "Expecting to find valid JSON in request body. The server could not comply with \
                 the request since it is either malformed or otherwise incorrect. The client is \
                 assumed to be in error.",
            );
        }
    };
    match build_token(world, req, &body) {
        Ok(token) => {
            let identity = &world.identity;
            let catalog = req.query_param("nocatalog").is_none();
            let out = identity.token_body(&token, &req.base_url, &world.settings.region, catalog);
            Reply::json(201, out).with_header("x-subject-token", token.id)
        }
        Err(reply) => reply,
    }
}

fn build_token(world: &mut World, req: &SimRequest, body: &Value) -> Result<Token, Reply> {
    let now = req.now;
    let auth = get_obj(body, "auth", "")?;
    let ident = get_obj(auth, "identity", "auth/")?;
    let methods: Vec<String> = match ident.get("methods").and_then(Value::as_array) {
        Some(m) if !m.is_empty() => m
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => {
            return Err(bad_request(
                "Invalid input for field 'identity': 'methods' is a required property.",
            ));
        }
    };
    if methods.is_empty() {
        return Err(bad_request("Invalid input for field 'identity/methods'."));
    }
    let identity = &world.identity;
    let mut principal: Option<Principal> = None;
    for m in &methods {
        let p = match m.as_str() {
            "password" => password_method(identity, ident)?,
            "application_credential" => app_cred_method(identity, ident)?,
            "token" => token_method(identity, ident, now)?,
            _ => {
                return Err(keystone_error(
                    401,
                    "Attempted to authenticate with an unsupported method.",
                ));
            }
        };
        // Several methods must all name the same user (multi-factor).
        if let Some(prev) = &principal
            && prev.user_id != p.user_id
        {
            return Err(unauthorized_plain());
        }
        let merged = match principal.take() {
            Some(prev) => Principal {
                user_id: p.user_id,
                app_cred: p.app_cred.or(prev.app_cred),
                parent: p.parent.or(prev.parent),
            },
            None => p,
        };
        principal = Some(merged);
    }
    let Some(principal) = principal else {
        return Err(unauthorized_plain());
    };
    let Some(user) = identity.user(&principal.user_id).cloned() else {
        return Err(unauthorized_plain());
    };
    let scope_req = auth.get("scope");
    let lifetime = world.settings.token_lifetime;
    let mut expires_at = now + lifetime;
    let (scope, roles, app_cred_id) = if let Some(ac) = &principal.app_cred {
        if scope_req.is_some() {
            return Err(keystone_error(
                401,
                "Error authenticating with application credential: Application credentials \
                 cannot request a scope.",
            ));
        }
        (
            Scope::Project(ac.project_id.clone()),
            ac.roles.clone(),
            Some(ac.id.clone()),
        )
    } else if let Some(parent) = &principal.parent {
        // A token from a token never outlives it.
        expires_at = expires_at.min(parent.expires_at);
        if parent.app_cred_id.is_some() && scope_req.is_some() {
            return Err(keystone_error(
                403,
                "You are not authorized to perform the requested action.",
            ));
        }
        match scope_req {
            Some(s) => {
                let scope = resolve_scope(identity, &user, s)?;
                (scope, user.roles.clone(), None)
            }
            None => (
                parent.scope.clone(),
                parent.roles.clone(),
                parent.app_cred_id.clone(),
            ),
        }
    } else {
        match scope_req {
            Some(s) => (resolve_scope(identity, &user, s)?, user.roles.clone(), None),
            None => (Scope::Unscoped, Vec::new(), None),
        }
    };
    let token = Token {
        id: String::new(),
        user_id: user.id.clone(),
        scope,
        methods,
        roles,
        app_cred_id,
        audit_id: uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(22)
            .collect(),
        issued_at: now,
        expires_at,
        revoked: false,
    };
    Ok(world.identity.issue(token))
}

/// `GET /identity/v3/auth/tokens`: validates `X-Subject-Token` for a caller with a valid token.
fn validate_token(world: &World, req: &SimRequest) -> Reply {
    if let Err(r) = authenticate(world, req) {
        return r;
    }
    let Some(subject) = req.header("x-subject-token").map(str::trim) else {
        return keystone_error(401, super::http::UNAUTHORIZED_MESSAGE);
    };
    match world.identity.valid_token(subject, req.now) {
        Some(t) => {
            let catalog = req.query_param("nocatalog").is_none();
            let body = world
                .identity
                .token_body(t, &req.base_url, &world.settings.region, catalog);
            Reply::json(200, body).with_header("x-subject-token", subject)
        }
        None => keystone_error(404, &format!("Could not find token: {subject}.")),
    }
}

/// `DELETE /identity/v3/auth/tokens`: revokes `X-Subject-Token`.
fn revoke_token(world: &mut World, req: &SimRequest) -> Reply {
    if let Err(r) = authenticate(world, req) {
        return r;
    }
    let Some(subject) = req.header("x-subject-token").map(str::trim) else {
        return keystone_error(401, super::http::UNAUTHORIZED_MESSAGE);
    };
    let now = req.now;
    let identity = &mut world.identity;
    let found = identity.index.get(subject).copied();
    match found
        .and_then(|i| identity.tokens.get_mut(i))
        .filter(|t| t.is_valid(now))
    {
        Some(t) => {
            t.revoked = true;
            Reply::empty(204)
        }
        None => keystone_error(404, &format!("Could not find token: {subject}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::scenario::Scenario;

    fn world() -> World {
        let s = Scenario::builtin_default().unwrap();
        World::new(&s, clock::now())
    }

    fn post(world: &mut World, body: Value) -> Reply {
        let mut req = SimRequest::new(Method::POST, "/identity/v3/auth/tokens");
        req.body = body.to_string().into_bytes();
        handle(world, &req)
    }

    fn password_body(user: &str, pw: &str, scope: Option<Value>) -> Value {
        let mut b = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": pw}}}}});
        if let Some(s) = scope {
            b["auth"]["scope"] = s;
        }
        b
    }

    #[test]
    fn password_project_scope_has_catalog_and_roles() {
        let mut w = world();
        let scope = json!({"project": {"name": "admin", "domain": {"id": "default"}}});
        let r = post(
            &mut w,
            password_body("admin", "sim-admin-password", Some(scope)),
        );
        assert_eq!(r.status.as_u16(), 201);
        let b = r.body_json().unwrap();
        let t = &b["token"];
        assert_eq!(t["project"]["name"], "admin");
        assert_eq!(t["user"]["domain"]["id"], "default");
        let roles: Vec<&str> = t["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["admin", "member", "reader"]);
        let types: Vec<&str> = t["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "identity",
                "compute",
                "volumev3",
                "block-storage",
                "placement",
                "image"
            ]
        );
        assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "x-subject-token" && v.starts_with("gAAAAAB"))
        );
    }

    #[test]
    fn unscoped_has_no_catalog_and_bad_password_is_401() {
        let mut w = world();
        let r = post(&mut w, password_body("admin", "sim-admin-password", None));
        assert_eq!(r.status.as_u16(), 201);
        assert!(r.body_json().unwrap()["token"].get("catalog").is_none());
        let r = post(&mut w, password_body("admin", "wrong", None));
        assert_eq!(r.status.as_u16(), 401);
        assert_eq!(r.body_json().unwrap()["error"]["title"], "Unauthorized");
        // Another user's project: 401.
        let scope = json!({"project": {"name": "demo", "domain": {"name": "Default"}}});
        let r = post(
            &mut w,
            password_body("admin", "sim-admin-password", Some(scope)),
        );
        assert_eq!(r.status.as_u16(), 401);
    }

    #[test]
    fn application_credential_is_project_scoped_and_refuses_a_scope() {
        let mut w = world();
        let body = json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": "5f1c0d1e8a3b4c2d9e7f6a5b4c3d2e1f",
                                       "secret": "sim-app-cred-secret"}}}});
        let r = post(&mut w, body.clone());
        assert_eq!(r.status.as_u16(), 201);
        let b = r.body_json().unwrap();
        let t = &b["token"];
        assert_eq!(t["project"]["name"], "admin");
        assert_eq!(t["application_credential"]["name"], "evacctl");
        let mut scoped = body.clone();
        scoped["auth"]["scope"] =
            json!({"project": {"name": "admin", "domain": {"id": "default"}}});
        assert_eq!(post(&mut w, scoped).status.as_u16(), 401);
        let by_name = json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"name": "evacctl", "secret": "sim-app-cred-secret",
                "user": {"name": "admin", "domain": {"name": "Default"}}}}}});
        assert_eq!(post(&mut w, by_name).status.as_u16(), 201);
    }

    #[test]
    fn token_method_and_revocation() {
        let mut w = world();
        let scope = json!({"project": {"name": "admin", "domain": {"id": "default"}}});
        let r = post(
            &mut w,
            password_body("admin", "sim-admin-password", Some(scope)),
        );
        let (_, first) = r
            .headers
            .iter()
            .find(|(k, _)| k == "x-subject-token")
            .unwrap()
            .clone();
        let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": first}}}});
        let r = post(&mut w, body.clone());
        assert_eq!(r.status.as_u16(), 201);
        assert_eq!(r.body_json().unwrap()["token"]["project"]["name"], "admin");
        assert_eq!(w.identity.revoke_all(clock::now()), 2);
        assert_eq!(post(&mut w, body).status.as_u16(), 401);
    }

    #[test]
    fn garbage_is_400_never_a_panic() {
        let mut w = world();
        for body in [
            "",
            "{",
            "[]",
            "null",
            "{\"auth\": 1}",
            "{\"auth\": {}}",
            "{\"auth\": {\"identity\": {\"methods\": \"password\"}}}",
            "{\"auth\": {\"identity\": {\"methods\": [\"password\"]}}}",
            "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"admin\", \"password\": \"x\"}}}}}",
            "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": 5, \"password\": [1]}}}}}",
            "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"id\": \"x\", \"password\": \"x\"}}}, \"scope\": 7}}",
        ] {
            let mut req = SimRequest::new(Method::POST, "/identity/v3/auth/tokens");
            req.body = body.as_bytes().to_vec();
            let r = handle(&mut w, &req);
            let code = r.status.as_u16();
            assert!(code == 400 || code == 401, "{body}: {code}");
            assert!(
                r.body_json().unwrap()["error"]["message"].is_string(),
                "{body}"
            );
        }
    }
}
