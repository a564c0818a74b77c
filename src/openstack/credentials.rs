//! What a cloud's `auth:` block says: the credentials, the auth type (keystoneauth's plugin
//! names) and what the token is scoped to. `cloud_config` resolves them from clouds.yaml and
//! the environment; `auth` turns them into Keystone's token request.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::secret::Secret;

/// Credentials and scope (the `auth:` block). Secrets are [`Secret`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// As configured; the session appends `/v3` when it is missing.
    pub auth_url: String,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: Option<Secret>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_name: Option<String>,
    pub domain_id: Option<String>,
    pub system_scope: Option<String>,
    pub application_credential_id: Option<String>,
    pub application_credential_name: Option<String>,
    pub application_credential_secret: Option<Secret>,
    pub token: Option<Secret>,
}

/// The supported auth types (keystoneauth plugin names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `password`, `v3password`
    Password,
    /// `v3applicationcredential`, `application_credential`
    ApplicationCredential,
    /// `token`, `v3token`
    Token,
}

const SUPPORTED: &str =
    "password (v3password), v3applicationcredential (application_credential), token (v3token)";

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Password => "password",
            AuthType::ApplicationCredential => "v3applicationcredential",
            AuthType::Token => "token",
        }
    }

    /// No `auth_type`: password, unless only an application credential or only a token is
    /// given (OSC would fail there; guessing right costs nothing).
    pub(crate) fn guess(auth: &AuthConfig) -> AuthType {
        if auth.password.is_some() {
            AuthType::Password
        } else if auth.application_credential_secret.is_some() {
            AuthType::ApplicationCredential
        } else if auth.token.is_some() {
            AuthType::Token
        } else {
            AuthType::Password
        }
    }

    /// Checks that the credentials this type needs are there, and derives the scope.
    pub(crate) fn validate(self, a: &AuthConfig) -> Result<Scope, String> {
        match self {
            AuthType::Password => {
                if a.password.as_ref().is_none_or(Secret::is_empty) {
                    return Err("auth type password needs a password (auth.password, secure.yaml or OS_PASSWORD)".into());
                }
                user_ref(a)?;
            }
            AuthType::ApplicationCredential => {
                if a.application_credential_secret
                    .as_ref()
                    .is_none_or(Secret::is_empty)
                {
                    return Err(
                        "auth type v3applicationcredential needs application_credential_secret \
                                (or OS_APPLICATION_CREDENTIAL_SECRET)"
                            .into(),
                    );
                }
                if a.application_credential_id.is_none() {
                    if a.application_credential_name.is_none() {
                        return Err("auth type v3applicationcredential needs application_credential_id, or \
                                    application_credential_name with the user"
                            .into());
                    }
                    user_ref(a)?;
                }
                // The credential carries its own project; Keystone refuses a scope with it.
                return Ok(Scope::Unscoped);
            }
            AuthType::Token => {
                if a.token.as_ref().is_none_or(Secret::is_empty) {
                    return Err("auth type token needs a token (auth.token or OS_TOKEN)".into());
                }
            }
        }
        Scope::from_auth(a)
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "password" | "v3password" => Ok(AuthType::Password),
            "v3applicationcredential" | "application_credential" | "applicationcredential" => {
                Ok(AuthType::ApplicationCredential)
            }
            "token" | "v3token" => Ok(AuthType::Token),
            _ => Err(format!(
                "auth_type {s:?} is not supported; evacctl supports {SUPPORTED}"
            )),
        }
    }
}

/// A domain, by id or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

impl DomainRef {
    fn from(id: &Option<String>, name: &Option<String>) -> Option<DomainRef> {
        id.clone()
            .map(DomainRef::Id)
            .or_else(|| name.clone().map(DomainRef::Name))
    }

    fn to_json(&self) -> Value {
        match self {
            DomainRef::Id(id) => json!({"id": id}),
            DomainRef::Name(name) => json!({"name": name}),
        }
    }
}

/// What the token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    ProjectId(String),
    ProjectName {
        name: String,
        domain: DomainRef,
    },
    Domain(DomainRef),
    /// `system_scope: all`
    System,
    /// No scope: Keystone gives no catalog. Also used for application credentials, which
    /// carry their own project.
    Unscoped,
}

impl Scope {
    fn from_auth(a: &AuthConfig) -> Result<Scope, String> {
        let project = if let Some(id) = &a.project_id {
            Some(Scope::ProjectId(id.clone()))
        } else if let Some(name) = &a.project_name {
            let domain = DomainRef::from(&a.project_domain_id, &a.project_domain_name).ok_or_else(|| {
                format!("project {name:?} is given by name, so its domain is needed too (project_domain_name or project_domain_id)")
            })?;
            Some(Scope::ProjectName {
                name: name.clone(),
                domain,
            })
        } else {
            None
        };
        let domain = DomainRef::from(&a.domain_id, &a.domain_name).map(Scope::Domain);
        let system = match a.system_scope.as_deref() {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("all") => Some(Scope::System),
            Some(s) => {
                return Err(format!(
                    "system_scope {s:?} is not supported (only \"all\")"
                ));
            }
        };
        let mut scopes: Vec<Scope> = [project, domain, system].into_iter().flatten().collect();
        match scopes.len() {
            0 => Ok(Scope::Unscoped),
            1 => Ok(scopes.remove(0)),
            _ => Err(
                "the token cannot be scoped to more than one of project, domain and system: \
                      remove the extra settings (see also OS_* variables in the environment)"
                    .into(),
            ),
        }
    }

    pub(crate) fn to_json(&self) -> Option<Value> {
        match self {
            Scope::ProjectId(id) => Some(json!({"project": {"id": id}})),
            Scope::ProjectName { name, domain } => {
                Some(json!({"project": {"name": name, "domain": domain.to_json()}}))
            }
            Scope::Domain(d) => Some(json!({"domain": d.to_json()})),
            Scope::System => Some(json!({"system": {"all": true}})),
            Scope::Unscoped => None,
        }
    }
}

/// `{"id": ...}` or `{"name": ..., "domain": ...}` for the user.
pub(crate) fn user_ref(a: &AuthConfig) -> Result<Value, String> {
    if let Some(id) = &a.user_id {
        return Ok(json!({"id": id}));
    }
    let Some(name) = &a.username else {
        return Err(
            "a user is needed: username (with user_domain_name or user_domain_id) or user_id"
                .into(),
        );
    };
    let domain = DomainRef::from(&a.user_domain_id, &a.user_domain_name).ok_or_else(|| {
        format!("user {name:?} is given by name, so its domain is needed too (user_domain_name or user_domain_id)")
    })?;
    Ok(json!({"name": name, "domain": domain.to_json()}))
}
