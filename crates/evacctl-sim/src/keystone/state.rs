//! Keystone's state: domains, projects, users, application credentials, tokens, the catalog.
//! The HTTP API and the token check are in [`crate::keystone`].

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock;
use crate::scenario::Scenario;

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
    pub(crate) index: HashMap<String, usize>,
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

    pub(crate) fn issue(&mut self, mut token: Token) -> Token {
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
