//! Keystone v3: the token request and the token answer.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::catalog::Catalog;
use super::credentials::{AuthConfig, AuthType, Scope, user_ref};
use crate::secret::Secret;
use evacctl_text::time::parse_timestamp;

/// The body of `POST /v3/auth/tokens`. It holds the secret: never log it.
pub(crate) fn token_request_body(
    auth_type: AuthType,
    a: &AuthConfig,
    scope: &Scope,
) -> Result<Value, String> {
    let expose = |s: &Option<Secret>| {
        s.as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    };
    let identity = match auth_type {
        AuthType::Password => {
            let mut user = user_ref(a)?;
            user["password"] = Value::String(expose(&a.password));
            json!({"methods": ["password"], "password": {"user": user}})
        }
        AuthType::ApplicationCredential => {
            let mut cred = match &a.application_credential_id {
                Some(id) => json!({"id": id}),
                None => json!({"name": a.application_credential_name, "user": user_ref(a)?}),
            };
            cred["secret"] = Value::String(expose(&a.application_credential_secret));
            json!({"methods": ["application_credential"], "application_credential": cred})
        }
        AuthType::Token => json!({"methods": ["token"], "token": {"id": expose(&a.token)}}),
    };
    let mut auth = json!({"identity": identity});
    if auth_type != AuthType::ApplicationCredential
        && let Some(scope) = scope.to_json()
    {
        auth["scope"] = scope;
    }
    Ok(json!({"auth": auth}))
}

/// A Keystone token with what came with it.
#[derive(Clone, Debug)]
pub struct Token {
    pub value: Secret,
    /// As Keystone wrote it (Keystone's clock).
    pub expires_at: SystemTime,
    /// When we received it (our clock).
    pub received_at: SystemTime,
    /// `expires_at - issued_at`, when Keystone said when it issued the token: measured on
    /// Keystone's clock alone, so a skew between the clocks does not matter.
    pub lifetime: Option<Duration>,
    pub catalog: Catalog,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
}

impl Token {
    /// Renew from this moment (our clock): 2 minutes before expiry, or half-way for
    /// short-lived tokens, so a call never starts with a token about to lapse.
    pub fn refresh_at(&self) -> SystemTime {
        let (expiry, lifetime) = match self.lifetime {
            Some(l) => (
                self.received_at.checked_add(l).unwrap_or(self.expires_at),
                l,
            ),
            None => (
                self.expires_at,
                self.expires_at
                    .duration_since(self.received_at)
                    .unwrap_or_default(),
            ),
        };
        let margin = Duration::from_secs(120).min(lifetime / 2);
        expiry.checked_sub(margin).unwrap_or(expiry)
    }

    pub fn needs_refresh(&self, now: SystemTime) -> bool {
        now >= self.refresh_at()
    }
}

/// The token from `X-Subject-Token` and the body of a `201` to `POST /auth/tokens`.
/// `Err` says what is missing or malformed (never quoting the body).
pub(crate) fn parse_token(
    subject_token: Option<&str>,
    body: &[u8],
    now: SystemTime,
) -> Result<Token, String> {
    let value = subject_token
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("no X-Subject-Token header")?;
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| format!("body is not JSON ({})", e.classify_text()))?;
    let token = doc
        .get("token")
        .filter(|t| t.is_object())
        .ok_or("no `token` object in the body")?;
    let expires = token
        .get("expires_at")
        .and_then(Value::as_str)
        .ok_or("no `token.expires_at`")?;
    let expires_at = parse_timestamp(expires)
        .ok_or_else(|| format!("`token.expires_at` is not a timestamp: {expires:?}"))?;
    let lifetime = token
        .get("issued_at")
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
        .and_then(|issued| expires_at.duration_since(issued).ok());
    let catalog = match token.get("catalog") {
        None | Some(Value::Null) => Catalog::default(),
        Some(c @ Value::Array(_)) => Catalog::from_json(c),
        Some(_) => return Err("`token.catalog` is not a list".into()),
    };
    let id_of = |k: &str| {
        token
            .get(k)
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Token {
        value: Secret::new(value),
        expires_at,
        received_at: now,
        lifetime,
        catalog,
        project_id: id_of("project"),
        user_id: id_of("user"),
    })
}

/// serde_json's error without the offending text (a Keystone body is never quoted).
trait ClassifyText {
    fn classify_text(&self) -> String;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> String {
        format!(
            "{:?} error at line {}, column {}",
            self.classify(),
            self.line(),
            self.column()
        )
    }
}

/// `…/v3` for any spelling of the auth URL: with or without `/v3`, a trailing slash, or `/v2.0`.
pub(crate) fn identity_v3_url(auth_url: &str) -> String {
    let base = auth_url.trim().trim_end_matches('/');
    if base.ends_with("/v3") {
        return base.to_string();
    }
    let base = base
        .strip_suffix("/v2.0")
        .or_else(|| base.strip_suffix("/v2"))
        .unwrap_or(base);
    format!("{base}/v3")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::credentials::DomainRef;

    fn password_auth() -> AuthConfig {
        AuthConfig {
            auth_url: "http://127.0.0.1:5000/v3".into(),
            username: Some("admin".into()),
            password: Some(Secret::new("s3cret-pw")),
            user_domain_name: Some("Default".into()),
            project_name: Some("admin".into()),
            project_domain_id: Some("default".into()),
            ..Default::default()
        }
    }

    #[test]
    fn auth_type_names() {
        for (s, t) in [
            ("password", AuthType::Password),
            ("v3password", AuthType::Password),
            ("v3applicationcredential", AuthType::ApplicationCredential),
            ("application_credential", AuthType::ApplicationCredential),
            ("token", AuthType::Token),
            ("v3token", AuthType::Token),
        ] {
            assert_eq!(s.parse::<AuthType>(), Ok(t));
        }
        let e = "v3oidcpassword".parse::<AuthType>().unwrap_err();
        assert!(
            e.contains("v3oidcpassword")
                && e.contains("v3applicationcredential")
                && e.contains("v3token"),
            "{e}"
        );
    }

    #[test]
    fn password_body_with_project_scope() {
        let a = password_auth();
        let scope = AuthType::Password.validate(&a).unwrap();
        let body = token_request_body(AuthType::Password, &a, &scope).unwrap();
        assert_eq!(
            body,
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "admin", "domain": {"name": "Default"}, "password": "s3cret-pw"}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        );
    }

    #[test]
    fn scopes() {
        let mut a = password_auth();
        a.project_id = Some("p-1".into());
        assert_eq!(
            AuthType::Password.validate(&a),
            Ok(Scope::ProjectId("p-1".into()))
        );
        let mut d = password_auth();
        d.project_name = None;
        d.domain_name = Some("Default".into());
        assert_eq!(
            AuthType::Password.validate(&d),
            Ok(Scope::Domain(DomainRef::Name("Default".into())))
        );
        assert_eq!(
            token_request_body(
                AuthType::Password,
                &d,
                &Scope::Domain(DomainRef::Name("Default".into()))
            )
            .unwrap()["auth"]["scope"],
            json!({"domain": {"name": "Default"}})
        );
        let mut s = password_auth();
        s.project_name = None;
        s.system_scope = Some("all".into());
        assert_eq!(AuthType::Password.validate(&s), Ok(Scope::System));
        assert_eq!(
            token_request_body(AuthType::Password, &s, &Scope::System).unwrap()["auth"]["scope"],
            json!({"system": {"all": true}})
        );
        let mut u = password_auth();
        u.project_name = None;
        assert_eq!(AuthType::Password.validate(&u), Ok(Scope::Unscoped));
        assert!(
            token_request_body(AuthType::Password, &u, &Scope::Unscoped).unwrap()["auth"]
                .get("scope")
                .is_none()
        );
        let mut both = password_auth();
        both.system_scope = Some("all".into());
        assert!(
            AuthType::Password
                .validate(&both)
                .unwrap_err()
                .contains("more than one")
        );
        let mut nodomain = password_auth();
        nodomain.project_domain_id = None;
        assert!(
            AuthType::Password
                .validate(&nodomain)
                .unwrap_err()
                .contains("project_domain_name")
        );
        let mut nouserdomain = password_auth();
        nouserdomain.user_domain_name = None;
        assert!(
            AuthType::Password
                .validate(&nouserdomain)
                .unwrap_err()
                .contains("user_domain_name")
        );
        nouserdomain.user_id = Some("u-1".into());
        assert!(AuthType::Password.validate(&nouserdomain).is_ok());
    }

    #[test]
    fn application_credential_bodies_have_no_scope() {
        let a = AuthConfig {
            auth_url: "http://k/v3".into(),
            application_credential_id: Some("ac-1".into()),
            application_credential_secret: Some(Secret::new("ac-secret")),
            project_name: Some("ignored".into()),
            ..Default::default()
        };
        let scope = AuthType::ApplicationCredential.validate(&a).unwrap();
        assert_eq!(
            token_request_body(AuthType::ApplicationCredential, &a, &scope).unwrap(),
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": "ac-1", "secret": "ac-secret"}}}})
        );
        let by_name = AuthConfig {
            application_credential_id: None,
            application_credential_name: Some("evac".into()),
            username: Some("ops".into()),
            user_domain_id: Some("default".into()),
            ..a.clone()
        };
        assert_eq!(
            token_request_body(AuthType::ApplicationCredential, &by_name, &Scope::Unscoped)
                .unwrap()["auth"]["identity"]["application_credential"],
            json!({"name": "evac", "user": {"name": "ops", "domain": {"id": "default"}}, "secret": "ac-secret"})
        );
        let no_secret = AuthConfig {
            application_credential_secret: None,
            ..a.clone()
        };
        assert!(
            AuthType::ApplicationCredential
                .validate(&no_secret)
                .is_err()
        );
        let name_no_user = AuthConfig {
            application_credential_id: None,
            application_credential_name: Some("x".into()),
            ..a
        };
        assert!(
            AuthType::ApplicationCredential
                .validate(&name_no_user)
                .is_err()
        );
    }

    #[test]
    fn token_body() {
        let a = AuthConfig {
            auth_url: "http://k".into(),
            token: Some(Secret::new("tok-123")),
            project_id: Some("p".into()),
            ..Default::default()
        };
        let scope = AuthType::Token.validate(&a).unwrap();
        assert_eq!(
            token_request_body(AuthType::Token, &a, &scope).unwrap(),
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "tok-123"}},
                "scope": {"project": {"id": "p"}}}})
        );
        assert!(AuthType::Token.validate(&AuthConfig::default()).is_err());
    }

    #[test]
    fn guesses_the_type() {
        assert_eq!(AuthType::guess(&password_auth()), AuthType::Password);
        let ac = AuthConfig {
            application_credential_secret: Some(Secret::new("x")),
            ..Default::default()
        };
        assert_eq!(AuthType::guess(&ac), AuthType::ApplicationCredential);
        let t = AuthConfig {
            token: Some(Secret::new("x")),
            ..Default::default()
        };
        assert_eq!(AuthType::guess(&t), AuthType::Token);
        assert_eq!(AuthType::guess(&AuthConfig::default()), AuthType::Password);
    }

    #[test]
    fn normalises_auth_url() {
        for (i, o) in [
            ("http://k:5000", "http://k:5000/v3"),
            ("http://k:5000/", "http://k:5000/v3"),
            ("http://k:5000/v3", "http://k:5000/v3"),
            ("http://k:5000/v3/", "http://k:5000/v3"),
            ("http://k:5000/v2.0", "http://k:5000/v3"),
            ("https://cloud/identity", "https://cloud/identity/v3"),
            ("https://cloud/identity/v3", "https://cloud/identity/v3"),
        ] {
            assert_eq!(identity_v3_url(i), o, "{i}");
        }
    }

    #[test]
    fn parses_token_answers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let body = br#"{"token": {"expires_at": "2026-11-22T02:36:10.000000Z", "issued_at": "2026-11-22T01:36:10.000000Z",
            "methods": ["password"], "project": {"id": "p1", "name": "admin", "domain": {"id": "default"}},
            "user": {"id": "u1"}, "catalog": [{"type": "compute", "endpoints": [{"interface": "public", "region_id": "R", "url": "http://n/v2.1"}]}]}}"#;
        let t = parse_token(Some("tok"), body, now).unwrap();
        assert_eq!(t.value.expose(), "tok");
        assert_eq!(t.project_id.as_deref(), Some("p1"));
        assert_eq!(t.catalog.endpoints().len(), 1);
        assert_eq!(
            t.expires_at,
            parse_timestamp("2026-11-22T02:36:10Z").unwrap()
        );
        assert_eq!(t.lifetime, Some(Duration::from_secs(3600)));

        assert!(
            parse_token(None, body, now)
                .unwrap_err()
                .contains("X-Subject-Token")
        );
        assert!(parse_token(Some(" "), body, now).is_err());
        for bad in [
            &b"not json"[..],
            br#"[]"#,
            br#"{"token": 3}"#,
            br#"{"token": {}}"#,
            br#"{"token": {"expires_at": 5}}"#,
            br#"{"token": {"expires_at": "tomorrow"}}"#,
            br#"{"token": {"expires_at": "2026-11-22T02:36:10Z", "catalog": {}}}"#,
        ] {
            assert!(
                parse_token(Some("tok"), bad, now).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Unscoped: no catalog, still a token.
        let unscoped = parse_token(
            Some("tok"),
            br#"{"token": {"expires_at": "2026-11-22T02:36:10Z"}}"#,
            now,
        )
        .unwrap();
        assert!(unscoped.catalog.is_empty());
    }

    #[test]
    fn refreshes_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = |lifetime: u64| Token {
            value: Secret::new("t"),
            expires_at: now + Duration::from_secs(lifetime),
            received_at: now,
            lifetime: None,
            catalog: Catalog::default(),
            project_id: None,
            user_id: None,
        };
        let hour = t(3600);
        assert!(!hour.needs_refresh(now));
        assert!(!hour.needs_refresh(now + Duration::from_secs(3600 - 121)));
        assert!(hour.needs_refresh(now + Duration::from_secs(3600 - 120)));
        // A 60 s token is renewed after 30 s, not at once.
        let short = t(60);
        assert!(!short.needs_refresh(now + Duration::from_secs(29)));
        assert!(short.needs_refresh(now + Duration::from_secs(30)));
        // An already expired token is renewed.
        let expired = Token {
            received_at: now + Duration::from_secs(10),
            ..t(5)
        };
        assert!(expired.needs_refresh(now + Duration::from_secs(10)));
        // Keystone's clock two hours ahead of ours: issued_at tells the real lifetime.
        let skewed = Token {
            expires_at: now + Duration::from_secs(3 * 3600),
            lifetime: Some(Duration::from_secs(3600)),
            ..t(0)
        };
        assert!(!skewed.needs_refresh(now + Duration::from_secs(3600 - 121)));
        assert!(skewed.needs_refresh(now + Duration::from_secs(3600 - 120)));
        // ... or behind: without issued_at the token would look expired at once.
        let behind = Token {
            expires_at: now - Duration::from_secs(3600),
            lifetime: Some(Duration::from_secs(3600)),
            ..t(0)
        };
        assert!(!behind.needs_refresh(now + Duration::from_secs(60)));
    }
}
