//! Keystone v3 under `/identity`: version documents, token issue (password, application
//! credential, token), validation and revocation, and the catalog pointing back at this server.
//! Also the token check that every other API runs first (keystonemiddleware's role).

use std::collections::HashMap;

use axum::http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::clock;
use super::http::{Reply, SimRequest, keystone_error, unauthorized};
use super::scenario::Scenario;
use super::world::World;

#[derive(Debug, Clone, Serialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub password: String,
    pub domain_id: String,
    pub project_id: String,
    /// Role names held on the project and the user's domain (implied roles included).
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppCred {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub id: String,
    pub user_id: String,
    pub scope: Scope,
    pub methods: Vec<String>,
    pub roles: Vec<String>,
    pub app_cred_id: Option<String>,
    pub audit_id: String,
    pub issued_at: f64,
    pub expires_at: f64,
    pub revoked: bool,
}

impl Token {
    pub fn is_valid(&self, now: f64) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// The caller of an API request, from its token.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub user_id: String,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
}

impl AuthContext {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Catalog entry ids, fixed for the life of the world.
#[derive(Debug, Clone)]
struct CatalogIds {
    service: String,
    endpoints: [String; 3],
}

#[derive(Debug)]
pub struct Identity {
    pub domains: Vec<Domain>,
    pub projects: Vec<Project>,
    pub roles: Vec<RoleRef>,
    pub users: Vec<User>,
    pub app_creds: Vec<AppCred>,
    /// Every token ever issued, in order.
    pub tokens: Vec<Token>,
    index: HashMap<String, usize>,
    catalog_ids: HashMap<&'static str, CatalogIds>,
}

fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Keystone's default implied roles: admin implies member, member implies reader.
fn with_implied(roles: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: &str| {
        if !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    for r in roles {
        push(r);
        if r == "admin" {
            push("member");
        }
        if r == "admin" || r == "member" {
            push("reader");
        }
    }
    out
}

/// The services in the catalog: (type, name).
const CATALOG: &[(&str, &str)] = &[
    ("identity", "keystone"),
    ("compute", "nova"),
    ("volumev3", "cinderv3"),
    ("block-storage", "cinder"),
    ("placement", "placement"),
    ("image", "glance"),
];

impl Identity {
    pub fn from_scenario(scenario: &Scenario) -> Identity {
        let mut id = Identity {
            domains: Vec::new(),
            projects: Vec::new(),
            roles: Vec::new(),
            users: Vec::new(),
            app_creds: Vec::new(),
            tokens: Vec::new(),
            index: HashMap::new(),
            catalog_ids: CATALOG
                .iter()
                .map(|(ty, _)| {
                    (
                        *ty,
                        CatalogIds {
                            service: hex_id(),
                            endpoints: [hex_id(), hex_id(), hex_id()],
                        },
                    )
                })
                .collect(),
        };
        for u in &scenario.users {
            let domain_id = id.domain_named(&u.domain);
            let project_domain_id = id.domain_named(u.project_domain());
            let project_id = match id
                .projects
                .iter()
                .find(|p| p.name == u.project && p.domain_id == project_domain_id)
            {
                Some(p) => p.id.clone(),
                None => {
                    let p = Project {
                        id: hex_id(),
                        name: u.project.clone(),
                        domain_id: project_domain_id,
                    };
                    let pid = p.id.clone();
                    id.projects.push(p);
                    pid
                }
            };
            let roles = with_implied(&u.roles);
            for r in &roles {
                if !id.roles.iter().any(|x| &x.name == r) {
                    id.roles.push(RoleRef {
                        id: hex_id(),
                        name: r.clone(),
                    });
                }
            }
            id.users.push(User {
                id: hex_id(),
                name: u.name.clone(),
                password: u.password.clone(),
                domain_id,
                project_id,
                roles,
            });
        }
        for ac in &scenario.application_credentials {
            // Validation guarantees the user exists; skip defensively rather than panic.
            let Some(user) = id.users.iter().find(|u| u.name == ac.user) else {
                continue;
            };
            let roles = match &ac.roles {
                Some(r) => with_implied(r),
                None => user.roles.clone(),
            };
            id.app_creds.push(AppCred {
                id: ac.id.clone(),
                name: ac.name.clone(),
                secret: ac.secret.clone(),
                user_id: user.id.clone(),
                project_id: user.project_id.clone(),
                roles,
            });
        }
        id
    }

    /// The id of a domain by name, created on first use ("Default" is `default`, as in Keystone).
    fn domain_named(&mut self, name: &str) -> String {
        if let Some(d) = self.domains.iter().find(|d| d.name == name) {
            return d.id.clone();
        }
        let id = if name == "Default" {
            "default".to_string()
        } else {
            hex_id()
        };
        self.domains.push(Domain {
            id: id.clone(),
            name: name.to_string(),
        });
        id
    }

    pub fn domain(&self, id: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.id == id)
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// A token that is known, unrevoked and unexpired.
    pub fn valid_token(&self, id: &str, now: f64) -> Option<&Token> {
        self.index
            .get(id)
            .and_then(|&i| self.tokens.get(i))
            .filter(|t| t.is_valid(now))
    }

    /// Revokes every token issued so far; returns how many were still valid.
    pub fn revoke_all(&mut self, now: f64) -> usize {
        let mut n = 0;
        for t in &mut self.tokens {
            if t.is_valid(now) {
                n += 1;
            }
            t.revoked = true;
        }
        n
    }

    fn issue(&mut self, mut token: Token) -> Token {
        // 2 random UUIDs: as unguessable as a Fernet token, and easy to grep for in logs.
        token.id = format!("gAAAAAB{}{}", hex_id(), hex_id());
        self.index.insert(token.id.clone(), self.tokens.len());
        self.tokens.push(token.clone());
        token
    }

    /// The domain a user or project lives in, as `{"id","name"}`.
    fn domain_json(&self, id: &str) -> Value {
        let name = self.domain(id).map(|d| d.name.clone()).unwrap_or_default();
        json!({"id": id, "name": name})
    }

    fn role_json(&self, names: &[String]) -> Vec<Value> {
        names
            .iter()
            .map(|n| {
                let id = self
                    .roles
                    .iter()
                    .find(|r| &r.name == n)
                    .map(|r| r.id.clone());
                json!({"id": id.unwrap_or_default(), "name": n})
            })
            .collect()
    }

    /// The catalog a token carries; project-bound endpoints need a project.
    pub fn catalog(&self, base_url: &str, region: &str, project_id: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        for (ty, name) in CATALOG {
            let url = match *ty {
                "identity" => format!("{base_url}/identity/v3"),
                "compute" => format!("{base_url}/compute/v2.1"),
                "volumev3" | "block-storage" => match project_id {
                    Some(p) => format!("{base_url}/volume/v3/{p}"),
                    None => continue,
                },
                "placement" => format!("{base_url}/placement"),
                "image" => format!("{base_url}/image"),
                _ => continue,
            };
            let Some(ids) = self.catalog_ids.get(ty) else {
                continue;
            };
            let endpoints: Vec<Value> = ["public", "internal", "admin"]
                .iter()
                .zip(ids.endpoints.iter())
                .map(|(interface, id)| {
                    json!({"id": id, "interface": interface, "region": region,
                           "region_id": region, "url": url})
                })
                .collect();
            out.push(json!({"endpoints": endpoints, "id": ids.service, "type": ty, "name": name}));
        }
        out
    }

    /// The body of a token response.
    pub fn token_body(&self, t: &Token, base_url: &str, region: &str, catalog: bool) -> Value {
        let user = self.user(&t.user_id);
        let mut body = json!({
            "methods": t.methods,
            "user": {
                "id": t.user_id,
                "name": user.map(|u| u.name.clone()).unwrap_or_default(),
                "domain": self.domain_json(user.map(|u| u.domain_id.as_str()).unwrap_or("")),
                "password_expires_at": null,
            },
            "audit_ids": [t.audit_id],
            "issued_at": clock::iso_micros_z(t.issued_at),
            "expires_at": clock::iso_micros_z(t.expires_at),
        });
        let project_id = match &t.scope {
            Scope::Project(p) => Some(p.as_str()),
            _ => None,
        };
        match &t.scope {
            Scope::Unscoped => {}
            Scope::Project(pid) => {
                let p = self.project(pid);
                body["project"] = json!({
                    "id": pid,
                    "name": p.map(|p| p.name.clone()).unwrap_or_default(),
                    "domain": self.domain_json(p.map(|p| p.domain_id.as_str()).unwrap_or("")),
                });
                body["is_domain"] = json!(false);
            }
            Scope::Domain(did) => body["domain"] = self.domain_json(did),
            Scope::System => body["system"] = json!({"all": true}),
        }
        if t.scope != Scope::Unscoped {
            body["roles"] = json!(self.role_json(&t.roles));
            if catalog {
                body["catalog"] = json!(self.catalog(base_url, region, project_id));
            }
        }
        if let Some(ac_id) = &t.app_cred_id {
            let name = self
                .app_creds
                .iter()
                .find(|a| &a.id == ac_id)
                .map(|a| a.name.clone());
            body["application_credential"] =
                json!({"id": ac_id, "name": name.unwrap_or_default(), "restricted": true});
        }
        json!({ "token": body })
    }
}

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
