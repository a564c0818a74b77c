//! The Redfish driver, native over reqwest: basic authentication, TLS with the system's roots,
//! a CA bundle (`ca_file`) or no verification (`insecure`).
//!
//! The system is `/redfish/v1/Systems/<system_id>` when configured, else the only member of
//! `/redfish/v1/Systems` (several members: an error that lists them). Its `PowerState` is the
//! power; actions POST `{"ResetType": ...}` to the system's `#ComputerSystem.Reset` target:
//! `ForceOff`, `On`, and `ForceRestart` for a power cycle (`PowerCycle` where the BMC offers
//! only that). Reads are retried `retries` times when the BMC does not answer or answers
//! 500 or 502-504 (a GET changes nothing, and BMCs answer 500 while busy: sushy-tools' own
//! database, iDRAC under load); an action is retried only when the connection failed, so it is never sent twice.
//! Each answer, headers and body, must come whole within `timeout` and be at most
//! [`MAX_ANSWER`] bytes: a BMC that drips its answer holds nobody up.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use super::{BmcError, PowerDriver, PowerState};
use crate::config::{RedfishScheme, ResolvedBmc};
use crate::http::{self, Answer, Failure, MAX_ANSWER};
use crate::openstack::session::chain;
use crate::secret::Secret;

const SYSTEMS: &str = "/redfish/v1/Systems";

/// One host's BMC through Redfish.
pub struct Redfish {
    base: String,
    client: Client,
    user: String,
    password: Secret,
    system_id: Option<String>,
    retries: u32,
    timeout: Duration,
    /// The system found on first use: its path and reset action.
    system: Mutex<Option<SystemRef>>,
}

#[derive(Clone, Debug)]
struct SystemRef {
    path: String,
    reset_target: String,
    reset_types: Vec<String>,
}

impl Redfish {
    /// No I/O: the TLS settings (an unreadable `ca_file`) are checked here, the BMC on first
    /// use.
    pub fn new(bmc: &ResolvedBmc, password: Secret) -> Result<Redfish, BmcError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder()
            .user_agent(concat!("evacctl/", env!("CARGO_PKG_VERSION")))
            .timeout(bmc.timeout)
            .connect_timeout(bmc.timeout)
            // A redirect would carry the Authorization header wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if bmc.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else if let Some(path) = &bmc.ca_file {
            let pem = crate::files::read_limited(path, crate::openstack::session::MAX_CA_BUNDLE)
                .map_err(|e| {
                    BmcError::config(format!(
                        "cannot read the BMC CA bundle {} (ca_file): {e}",
                        path.display()
                    ))
                })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    BmcError::config(format!(
                        "the BMC CA bundle {} (ca_file) holds no PEM certificate",
                        path.display()
                    ))
                })?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| {
            BmcError::config(format!("cannot set up the HTTP client: {}", chain(&e)))
        })?;
        let host = if bmc.address.contains(':') {
            format!("[{}]", bmc.address)
        } else {
            bmc.address.clone()
        };
        let scheme = match bmc.scheme {
            RedfishScheme::Https => "https",
            RedfishScheme::Http => "http",
        };
        Ok(Redfish {
            base: format!("{scheme}://{host}:{}", bmc.port),
            client,
            user: bmc.user.clone(),
            password,
            system_id: bmc.system_id.clone(),
            retries: bmc.retries,
            timeout: bmc.timeout,
            system: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, rb: RequestBuilder) -> RequestBuilder {
        rb.basic_auth(&self.user, Some(self.password.expose()))
            .header("Accept", "application/json")
            .header("OData-Version", "4.0")
    }

    /// One exchange: the whole answer within `timeout`, at most [`MAX_ANSWER`] bytes.
    fn exchange(&self, rb: RequestBuilder) -> Result<Answer, Failure> {
        http::exchange(self.authed(rb), self.timeout, MAX_ANSWER)
    }

    /// GET a resource as JSON, retried when the BMC does not answer.
    fn get(&self, path: &str) -> Result<Value, BmcError> {
        let mut attempt = 0;
        loop {
            let sent = self.exchange(self.client.get(self.url(path)));
            let retry = match &sent {
                Err(Failure::Send(e)) => !is_tls_error(e),
                Err(Failure::TimedOut(_) | Failure::Broken(_)) => true,
                Err(Failure::TooLarge(_)) => false,
                Ok(r) => matches!(r.status, 500 | 502..=504),
            };
            if retry && attempt < self.retries {
                attempt += 1;
                tracing::debug!(
                    "GET {path}: no answer, retrying ({attempt}/{})",
                    self.retries
                );
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                continue;
            }
            let answer = self.check(path, "GET", sent)?;
            return serde_json::from_slice::<Value>(&answer.body).map_err(|e| {
                BmcError::failure(format!("GET {path}: the answer is not JSON: {e}"))
            });
        }
    }

    /// POST an action; resent only when the connection could not be made.
    fn post(&self, path: &str, body: &Value) -> Result<(), BmcError> {
        let mut attempt = 0;
        loop {
            let sent = self.exchange(self.client.post(self.url(path)).json(body));
            if let Err(Failure::Send(e)) = &sent
                && e.is_connect()
                && !is_tls_error(e)
                && attempt < self.retries
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                continue;
            }
            self.check(path, "POST", sent)?;
            return Ok(());
        }
    }

    /// A 2xx answer, or the error it means.
    fn check(
        &self,
        path: &str,
        method: &str,
        sent: Result<Answer, Failure>,
    ) -> Result<Answer, BmcError> {
        let answer = sent.map_err(|f| self.transport_error(method, path, f))?;
        let status = answer.status;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let text = String::from_utf8_lossy(&answer.body);
        let detail = redfish_message(&text)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        Err(match status {
            401 => BmcError::auth(format!(
                "the BMC refused user `{}` or its password ({method} {path}: HTTP 401{detail})",
                self.user
            )),
            403 => BmcError::auth(format!(
                "the BMC refused the privilege user `{}` needs ({method} {path}: HTTP 403{detail})",
                self.user
            )),
            _ => BmcError::failure(format!(
                "the BMC answered {method} {path} with HTTP {status}{detail}"
            )),
        })
    }

    fn transport_error(&self, method: &str, path: &str, f: Failure) -> BmcError {
        let e = match f {
            Failure::Send(e) => e,
            Failure::TooLarge(_) => {
                return BmcError::failure(format!("{method} {}: {f}", self.url(path)));
            }
            Failure::TimedOut(_) | Failure::Broken(_) => {
                return BmcError::unreachable(format!("{method} {}: {f}", self.url(path)));
            }
        };
        let detail = e.without_url_ref();
        if is_tls_error(&e) {
            BmcError::config(format!(
                "{method} {}: TLS: {detail} (set ca_file to the CA that issued the BMC's \
                 certificate, or insecure = true for a lab BMC)",
                self.url(path)
            ))
        } else if e.is_timeout() {
            BmcError::unreachable(format!(
                "{method} {}: no answer within {}",
                self.url(path),
                humantime::format_duration(self.timeout)
            ))
        } else {
            BmcError::unreachable(format!("{method} {}: {detail}", self.url(path)))
        }
    }

    /// The system to act on (found once, then remembered).
    fn system(&self) -> Result<SystemRef, BmcError> {
        if let Ok(guard) = self.system.lock()
            && let Some(s) = guard.as_ref()
        {
            return Ok(s.clone());
        }
        let path = match &self.system_id {
            Some(id) => format!("{SYSTEMS}/{}", encode_segment(id)),
            None => self.only_system()?,
        };
        let doc = self.get(&path)?;
        let found = system_ref(&path, &doc);
        if let Ok(mut guard) = self.system.lock() {
            *guard = Some(found.clone());
        }
        Ok(found)
    }

    fn only_system(&self) -> Result<String, BmcError> {
        let doc = self.get(SYSTEMS)?;
        let members: Vec<String> = doc["Members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["@odata.id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        match members.as_slice() {
            [one] => Ok(one.trim_end_matches('/').to_string()),
            [] => Err(BmcError::failure(format!("{SYSTEMS} lists no system"))),
            many => {
                let ids: Vec<&str> = many
                    .iter()
                    .map(|m| m.trim_end_matches('/').rsplit('/').next().unwrap_or(m))
                    .collect();
                Err(BmcError::config(format!(
                    "the BMC manages {} systems ({}): set system_id to the one of this host",
                    ids.len(),
                    ids.join(", ")
                )))
            }
        }
    }

    fn reset(&self, wanted: &[&str]) -> Result<(), BmcError> {
        let sys = self.system()?;
        // The first reset type the BMC offers; all of them when it does not say.
        let chosen = wanted
            .iter()
            .find(|w| sys.reset_types.is_empty() || sys.reset_types.iter().any(|t| t == *w))
            .ok_or_else(|| {
                BmcError::failure(format!(
                    "the BMC offers no reset type for this ({} wanted, it allows {})",
                    wanted.join(" or "),
                    sys.reset_types.join(", ")
                ))
            })?;
        tracing::debug!("POST {} ResetType {chosen}", sys.reset_target);
        self.post(&sys.reset_target, &json!({ "ResetType": chosen }))
    }
}

impl PowerDriver for Redfish {
    fn status(&self) -> Result<PowerState, BmcError> {
        let sys = self.system()?;
        let doc = self.get(&sys.path)?;
        parse_power_state(&doc)
    }

    fn power_off(&self) -> Result<(), BmcError> {
        self.reset(&["ForceOff"])
    }

    fn power_on(&self) -> Result<(), BmcError> {
        self.reset(&["On", "ForceOn"])
    }

    fn power_cycle(&self) -> Result<(), BmcError> {
        self.reset(&["ForceRestart", "PowerCycle"])
    }
}

/// `PowerState` of a ComputerSystem: `Off` is off; `On`, `PoweringOn`, `PoweringOff` and
/// `Paused` are on (power is still there).
pub fn parse_power_state(system: &Value) -> Result<PowerState, BmcError> {
    match system["PowerState"].as_str() {
        Some("Off") => Ok(PowerState::Off),
        Some("On" | "PoweringOn" | "PoweringOff" | "Paused") => Ok(PowerState::On),
        Some(other) => Err(BmcError::failure(format!(
            "the BMC reports an unknown PowerState {other:?}"
        ))),
        None => Err(BmcError::failure(
            "the BMC's system has no PowerState (is system_id right?)",
        )),
    }
}

fn system_ref(path: &str, doc: &Value) -> SystemRef {
    let action = &doc["Actions"]["#ComputerSystem.Reset"];
    let reset_target = action["target"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| format!("{path}/Actions/ComputerSystem.Reset"));
    let reset_types = action["ResetType@Redfish.AllowableValues"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    SystemRef {
        path: path.to_string(),
        reset_target,
        reset_types,
    }
}

/// The message of a Redfish error body (`error.message`, or the first extended info).
fn redfish_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = &v["error"];
    let extended = e["@Message.ExtendedInfo"][0]["Message"].as_str();
    extended
        .or_else(|| e["message"].as_str())
        .map(|m| m.chars().take(300).collect())
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    e.is_connect() && {
        let text = chain(e).to_ascii_lowercase();
        text.contains("certificate") || text.contains("tls") || text.contains("handshake")
    }
}

/// A path segment with the characters that would change the path escaped.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `without_url` by reference: error texts name the URL themselves.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = chain(self);
        match self.url() {
            Some(u) => text.replace(&format!(" for url ({u})"), ""),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmc::BmcErrorKind;
    use crate::config::Config;
    use crate::openstack::testserver::{Reply, TEST_CA_PEM, TestServer};

    fn bmc(port: u16, extra: &str) -> ResolvedBmc {
        let text = format!(
            "[hosts.c1.bmc]\ndriver = \"redfish\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"root\"\npassword_env = \"P\"\ntimeout = \"2s\"\nretries = 1\n{extra}"
        );
        let c = Config::from_str(&text, "/tmp/evacctl-test/c.toml").unwrap();
        c.host("c1").unwrap().bmc().unwrap().clone()
    }

    fn port_of(server: &TestServer) -> u16 {
        server.url().rsplit(':').next().unwrap().parse().unwrap()
    }

    fn system(state: &str) -> Value {
        json!({
            "@odata.id": "/redfish/v1/Systems/437XR1138R2",
            "Id": "437XR1138R2",
            "PowerState": state,
            "Actions": {"#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", "ForceRestart"]
            }}
        })
    }

    fn one_system_bmc(
        recorded_state: &'static str,
    ) -> impl Fn(&crate::openstack::testserver::Recorded) -> Reply {
        move |r| match (r.method.as_str(), r.path.as_str()) {
            (_, _) if r.header("authorization") != Some("Basic cm9vdDpjYWx2aW4tcHc=") => {
                Reply::json(401, &json!({"error": {"message": "bad credentials"}}))
            }
            ("GET", "/redfish/v1/Systems") => Reply::json(
                200,
                &json!({"Members": [{"@odata.id": "/redfish/v1/Systems/437XR1138R2"}]}),
            ),
            ("GET", "/redfish/v1/Systems/437XR1138R2") => Reply::json(200, &system(recorded_state)),
            ("POST", "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset") => {
                Reply::raw(204, "")
            }
            _ => Reply::json(404, &json!({"error": {"message": "no such resource"}})),
        }
    }

    #[test]
    fn finds_the_only_system_reads_power_and_resets() {
        let server = TestServer::start(|_| one_system_bmc("On"));
        let d = Redfish::new(
            &bmc(port_of(&server), "scheme = \"http\"\n"),
            Secret::new("calvin-pw"),
        )
        .unwrap();
        assert_eq!(d.status(), Ok(PowerState::On));
        d.power_off().unwrap();
        d.power_cycle().unwrap();
        d.power_on().unwrap();
        let reqs = server.requests();
        let paths: Vec<String> = reqs
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            paths[..3],
            [
                "GET /redfish/v1/Systems",
                "GET /redfish/v1/Systems/437XR1138R2",
                "GET /redfish/v1/Systems/437XR1138R2"
            ],
            "the system is looked up once"
        );
        let bodies: Vec<Value> = reqs
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.json())
            .collect();
        assert_eq!(
            bodies,
            [
                json!({"ResetType": "ForceOff"}),
                json!({"ResetType": "ForceRestart"}),
                json!({"ResetType": "On"})
            ]
        );
    }

    #[test]
    fn http_errors_have_kinds() {
        let server = TestServer::start(|_| one_system_bmc("Off"));
        let port = port_of(&server);
        let wrong =
            Redfish::new(&bmc(port, "scheme = \"http\"\n"), Secret::new("nope-pw")).unwrap();
        let e = wrong.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Auth);
        assert!(
            e.message.contains("HTTP 401") && e.message.contains("`root`"),
            "{e}"
        );
        assert!(!e.message.contains("nope-pw"));

        let by_id = Redfish::new(
            &bmc(port, "scheme = \"http\"\nsystem_id = \"Other.1\"\n"),
            Secret::new("calvin-pw"),
        )
        .unwrap();
        let e = by_id.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(e.message.contains("HTTP 404: no such resource"), "{e}");

        let ok = Redfish::new(&bmc(port, "scheme = \"http\"\n"), Secret::new("calvin-pw")).unwrap();
        assert_eq!(ok.status(), Ok(PowerState::Off));
        drop(server);

        // Nothing listens any more.
        let e = ok.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Unreachable, "{e}");
    }

    #[test]
    fn a_busy_bmc_s_500_is_read_again_but_an_action_is_never_sent_twice() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let gets = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = gets.clone();
        let server = TestServer::start(move |_| {
            let gets = gets.clone();
            let bmc = one_system_bmc("On");
            move |r: &crate::openstack::testserver::Recorded| {
                let busy = r.method == "POST" || gets.fetch_add(1, Ordering::SeqCst) == 0;
                if busy {
                    Reply::json(500, &json!({"error": {"message": "database is locked"}}))
                } else {
                    bmc(r)
                }
            }
        });
        let d = Redfish::new(
            &bmc(port_of(&server), "scheme = \"http\"\n"),
            Secret::new("calvin-pw"),
        )
        .unwrap();
        assert_eq!(d.status(), Ok(PowerState::On));
        assert!(seen.load(Ordering::SeqCst) >= 2);
        let listed = server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/redfish/v1/Systems")
            .count();
        assert_eq!(listed, 2, "the GET answered 500 was asked again, once");
        let e = d.power_off().unwrap_err();
        assert!(e.message.contains("HTTP 500"), "{e}");
        let posts = server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count();
        assert_eq!(posts, 1, "an action answered 500 is not sent again");
    }

    #[test]
    fn several_systems_need_a_system_id() {
        let server = TestServer::start(|_| {
            |_: &crate::openstack::testserver::Recorded| {
                Reply::json(
                    200,
                    &json!({"Members": [
                        {"@odata.id": "/redfish/v1/Systems/a"},
                        {"@odata.id": "/redfish/v1/Systems/b"}
                    ]}),
                )
            }
        });
        let d = Redfish::new(
            &bmc(port_of(&server), "scheme = \"http\"\n"),
            Secret::new("x"),
        )
        .unwrap();
        let e = d.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(e.message.contains("2 systems (a, b)"), "{e}");
    }

    #[test]
    fn tls_with_a_ca_file_insecure_or_untrusted() {
        let server = TestServer::start_tls(|_| one_system_bmc("On"));
        let port = port_of(&server);
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, TEST_CA_PEM).unwrap();

        let trusted = Redfish::new(
            &bmc(port, &format!("ca_file = {:?}\n", ca.display().to_string())),
            Secret::new("calvin-pw"),
        )
        .unwrap();
        assert_eq!(trusted.status(), Ok(PowerState::On));

        let insecure =
            Redfish::new(&bmc(port, "insecure = true\n"), Secret::new("calvin-pw")).unwrap();
        assert_eq!(insecure.status(), Ok(PowerState::On));

        let untrusted = Redfish::new(&bmc(port, ""), Secret::new("calvin-pw")).unwrap();
        let e = untrusted.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Config, "{e}");
        assert!(e.message.contains("set ca_file"), "{e}");

        let e = Redfish::new(
            &bmc(port, "ca_file = \"/nonexistent/evacctl/ca.pem\"\n"),
            Secret::new("x"),
        )
        .err()
        .unwrap();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(e.message.contains("cannot read the BMC CA bundle"), "{e}");
    }

    /// A BMC that sends its headers, then drips its body: each try gives up at `timeout`,
    /// and the error is of the Unreachable kind.
    #[test]
    fn a_dripping_bmc_holds_nobody_up() {
        use crate::http::testing::{BadServer, Misbehaviour, within};
        let server = BadServer::start(Misbehaviour::Drip {
            interval: Duration::from_millis(500),
        });
        let port = server.url.rsplit(':').next().unwrap().parse().unwrap();
        let d = Redfish::new(&bmc(port, "scheme = \"http\"\n"), Secret::new("x")).unwrap();
        let e = within(Duration::from_secs(30), move || d.status()).unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Unreachable, "{e}");
        assert!(e.message.contains("within 2s"), "{e}");
    }

    #[test]
    fn power_states() {
        assert_eq!(
            parse_power_state(&json!({"PowerState": "Off"})),
            Ok(PowerState::Off)
        );
        for on in ["On", "PoweringOff", "PoweringOn", "Paused"] {
            assert_eq!(
                parse_power_state(&json!({"PowerState": on})),
                Ok(PowerState::On)
            );
        }
        assert!(parse_power_state(&json!({"PowerState": "Weird"})).is_err());
        assert!(parse_power_state(&json!({})).is_err());
        assert_eq!(encode_segment("System.Embedded.1"), "System.Embedded.1");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
