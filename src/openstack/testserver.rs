//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: answers with scripted replies and records
//! every request. One request per connection (`Connection: close`), a thread per connection.
//! Plain HTTP, or HTTPS with a certificate from a test CA ([`TEST_CA_PEM`]).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: String,
    /// Without the query.
    pub path: String,
    pub query: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        reqwest::Url::parse(&format!("http://x/?{}", self.query))
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Close the connection without answering.
    pub hang_up: bool,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::raw(status, body.to_string()).header("Content-Type", "application/json")
    }

    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            hang_up: false,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::raw(0, "")
        }
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub(crate) struct TestServer {
    addr: SocketAddr,
    scheme: &'static str,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0, then builds the handler from the base URL (so replies can point
    /// back at the server, as a catalog does).
    pub fn start<F, H>(make: F) -> TestServer
    where
        F: FnOnce(&str) -> H,
        H: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        TestServer::start_with(None, make)
    }

    /// The same over TLS, with a certificate for 127.0.0.1 issued by [`TEST_CA_PEM`].
    pub fn start_tls<F, H>(make: F) -> TestServer
    where
        F: FnOnce(&str) -> H,
        H: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        TestServer::start_with(Some(tls_config()), make)
    }

    fn start_with<F, H>(tls: Option<Arc<rustls::ServerConfig>>, make: F) -> TestServer
    where
        F: FnOnce(&str) -> H,
        H: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let handler: Handler = Arc::new(make(&format!("{scheme}://{addr}")));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let (handler, reqs, tls) = (handler.clone(), reqs.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => {
                        serve(stream, &handler, &reqs);
                    }
                    Some(cfg) => {
                        let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        let tls_stream = rustls::StreamOwned::new(conn, stream);
                        if let Some(mut s) = serve(tls_stream, &handler, &reqs) {
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                    }
                });
            }
        });
        TestServer {
            addr,
            scheme,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests with this method whose path is `path`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request; gives the stream back unless there was none or the reply hangs up.
fn serve<S: Read + Write>(
    stream: S,
    handler: &Handler,
    requests: &Mutex<Vec<Recorded>>,
) -> Option<S> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return None;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return None;
    }
    let rec = Recorded {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body,
    };
    if let Ok(mut r) = requests.lock() {
        r.push(rec.clone());
    }
    let reply = handler(&rec);
    std::thread::sleep(reply.delay);
    if reply.hang_up {
        return None;
    }
    let reason = reqwest::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let writer = reader.get_mut();
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&reply.body);
    let _ = writer.flush();
    Some(reader.into_inner())
}

/// Scripted routes: a queue of replies per (method, path); the last reply of a queue repeats;
/// anything else is a 404 naming the request.
#[derive(Default)]
pub(crate) struct Routes {
    routes: Vec<(String, String, Mutex<VecDeque<Reply>>)>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    pub fn on(mut self, method: &str, path: &str, replies: Vec<Reply>) -> Routes {
        self.routes.push((
            method.to_string(),
            path.to_string(),
            Mutex::new(replies.into()),
        ));
        self
    }

    pub fn handler(self) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
        move |req: &Recorded| {
            for (m, p, queue) in &self.routes {
                if *m == req.method && *p == req.path {
                    let Ok(mut q) = queue.lock() else { break };
                    let reply = if q.len() > 1 {
                        q.pop_front()
                    } else {
                        q.front().cloned()
                    };
                    if let Some(r) = reply {
                        return r;
                    }
                }
            }
            Reply::json(
                404,
                &serde_json::json!({"itemNotFound": {"code": 404, "message": format!("no route for {} {}", req.method, req.path)}}),
            )
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// The CA that issued the test server's certificate (EC P-256, valid 2000–2100). Test-only.
pub(crate) const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBaDCCAQ6gAwIBAgICEAAwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwPZXZhY2N0
bCB0ZXN0IENBMCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAaMRgw
FgYDVQQDDA9ldmFjY3RsIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQ5ml1A6s7jPZvBqpLLlk+DlwJCpVZsM3EHHXEWX4EiB8cJ2El7Ro4VleTSSISQ
UzZAEDYLCP4mEBYYUw5Cbufso0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB
/wQEAwIBBjAdBgNVHQ4EFgQURqEEoktubJvKyHXcghMEZrQMvgUwCgYIKoZIzj0E
AwIDSAAwRQIhAL/3gmkOQ72zrOa2wMoFqO75CWdsp8kBWwSyyQq6LnG7AiBkS/Zb
2q3qfQhN8IVvNa57L8EuWJXGoKZR93cv4XoDgA==
-----END CERTIFICATE-----
";

/// The server certificate: CN and SAN 127.0.0.1 (and localhost), valid 2000–2100.
const TEST_LEAF_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBtDCCAVmgAwIBAgICEAEwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwPZXZhY2N0
bCB0ZXN0IENBMCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAUMRIw
EAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASZVH29
h7lYOG1bioh3tz8AEiT0fPczooi8zBBrCSp9kTcrBt7xPbhPGpEvOUWD2mZbmLB7
TRcg1kpEPK5rJ5T3o4GSMIGPMAwGA1UdEwEB/wQCMAAwGgYDVR0RBBMwEYcEfwAA
AYIJbG9jYWxob3N0MBMGA1UdJQQMMAoGCCsGAQUFBwMBMA4GA1UdDwEB/wQEAwIH
gDAfBgNVHSMEGDAWgBRGoQSiS25sm8rIddyCEwRmtAy+BTAdBgNVHQ4EFgQUtgAE
nbaOmK3WW8ys9G0+OBzsbxswCgYIKoZIzj0EAwIDSQAwRgIhAPpJUjw5jualMpBK
OS7Bxr6Dw9TObtaAkqqidmX5szIOAiEAxrtJk+J9tv6MTyK/LdJ9TUyZp53WhdMD
caRikGXWMpc=
-----END CERTIFICATE-----
";

/// The server certificate's key: a throwaway made for these tests, protecting nothing.
const TEST_LEAF_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggre5DM5OVdIXHZEr
QV8YpmCb/wGAuuoRkri9ZxX7gDmhRANCAASZVH29h7lYOG1bioh3tz8AEiT0fPcz
ooi8zBBrCSp9kTcrBt7xPbhPGpEvOUWD2mZbmLB7TRcg1kpEPK5rJ5T3
-----END PRIVATE KEY-----
";

fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(TEST_LEAF_PEM.as_bytes()).expect("test cert");
    let key = PrivateKeyDer::from_pem_slice(TEST_LEAF_KEY.as_bytes()).expect("test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    Arc::new(cfg)
}
