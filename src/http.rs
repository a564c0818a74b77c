//! One HTTP exchange with a deadline for the whole answer, headers and body, and a cap on the
//! body's size. Shared by the HTTP clients (OpenStack, Consul, Redfish, the webhook).
//!
//! reqwest's blocking `timeout` bounds the wait for the headers, then each read of the body
//! on its own: a server that drips its body a byte at a time is never cut off, and one that
//! stalls after the headers holds a caller up to twice the timeout. So the exchange runs on a
//! worker thread and the caller waits for it until the deadline, no longer; the worker stops
//! reading at the deadline too, and its blocked read ends by reqwest's own timeout. The body
//! is read in chunks and refused past the cap, so a wrong port serving a stream cannot fill
//! the memory.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;

/// The largest answer the OpenStack, Redfish and webhook clients read: far above any real
/// one (a `servers/detail` page of 1000 servers is a few MiB), far below what would hurt.
pub const MAX_ANSWER: u64 = 64 << 20;

/// A whole answer, whatever its status.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why there is no whole answer.
#[derive(Debug)]
pub enum Failure {
    /// Sending failed, or no headers came: reqwest's error (connect, TLS, refused, timeout).
    Send(reqwest::Error),
    /// The answer had not ended within the deadline (the time limit, for messages).
    TimedOut(Duration),
    /// The body is larger than the cap (the cap, for messages).
    TooLarge(u64),
    /// The body broke off.
    Broken(String),
}

impl Failure {
    /// Did the request surely not reach the server (it may be sent again, even a write)?
    pub fn not_sent(&self) -> bool {
        matches!(self, Failure::Send(e) if e.is_connect())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Send(e) => write!(f, "{}", chain(e)),
            Failure::TimedOut(d) => write!(
                f,
                "timed out: no whole answer within {}",
                humantime::format_duration(*d)
            ),
            Failure::TooLarge(cap) => write!(
                f,
                "the answer is larger than {} (the limit): not read",
                crate::files::size(*cap)
            ),
            Failure::Broken(why) => write!(f, "the answer broke off: {why}"),
        }
    }
}

/// Sends `request` and reads its whole answer, within `timeout` from now and at most `cap`
/// bytes of body.
pub fn exchange(request: RequestBuilder, timeout: Duration, cap: u64) -> Result<Answer, Failure> {
    let started = Instant::now();
    let deadline = started.checked_add(timeout);
    let request = request.timeout(timeout);
    let (tx, rx) = mpsc::sync_channel(1);
    let worker = std::thread::Builder::new()
        .name("evacctl-http".into())
        .spawn(move || {
            let _ = tx.send(run(request, deadline, timeout, cap));
        });
    if let Err(e) = worker {
        // No thread to spare (the request went with the closure): nothing was sent.
        return Err(Failure::Broken(format!("cannot start a thread: {e}")));
    }
    let wait = deadline.map_or(Duration::MAX, |d| {
        d.saturating_duration_since(Instant::now())
    });
    match rx.recv_timeout(wait) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::TimedOut(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Failure::Broken("the HTTP worker stopped".into()))
        }
    }
}

fn run(
    request: RequestBuilder,
    deadline: Option<Instant>,
    timeout: Duration,
    cap: u64,
) -> Result<Answer, Failure> {
    let mut response = request.send().map_err(Failure::Send)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(Failure::TooLarge(cap));
    }
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Failure::TimedOut(timeout));
        }
        match response.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if (body.len() + n) as u64 > cap {
                    return Err(Failure::TooLarge(cap));
                }
                body.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // reqwest ends the body itself at the request's timeout (the same deadline, give
            // or take its start): that is a timeout too, not a broken answer.
            Err(e) if is_timeout(&e) || deadline.is_some_and(|d| Instant::now() >= d) => {
                return Err(Failure::TimedOut(timeout));
            }
            Err(e) => return Err(Failure::Broken(e.to_string())),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A read error that is, somewhere in its chain, a timeout.
fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && r.is_timeout()
        {
            return true;
        }
        if err.to_string().contains("timed out") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its sources, `: `-joined, without repeats.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Test servers that misbehave on purpose: on 127.0.0.1, a thread per connection.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// What the server sends after reading a request.
    #[derive(Clone, Copy, Debug)]
    pub enum Misbehaviour {
        /// A 200's headers (announcing 1000 bytes), then one byte per `interval`.
        Drip { interval: Duration },
        /// A 200 without a length, then bytes until the client hangs up.
        Endless { status: u16 },
    }

    /// A server; stops accepting when dropped.
    pub struct BadServer {
        pub url: String,
        stop: Arc<AtomicBool>,
    }

    impl Drop for BadServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            // Wakes the accept loop so that it sees the flag.
            let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        }
    }

    impl BadServer {
        pub fn start(how: Misbehaviour) -> BadServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let flag = flag.clone();
                    std::thread::spawn(move || serve(conn, how, &flag));
                }
            });
            BadServer { url, stop }
        }
    }

    fn serve(mut conn: TcpStream, how: Misbehaviour, stop: &AtomicBool) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        // The request's headers (a body, if any, is left unread).
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") && seen.len() < 65536 {
            match conn.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => return,
            }
        }
        match how {
            Misbehaviour::Drip { interval } => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 1000\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..1000 {
                    if stop.load(Ordering::Relaxed) || conn.write_all(b" ").is_err() {
                        return;
                    }
                    std::thread::sleep(interval);
                }
            }
            Misbehaviour::Endless { status } => {
                let head = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\n\
                     Connection: close\r\n\r\n"
                );
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                while !stop.load(Ordering::Relaxed) && conn.write_all(&chunk).is_ok() {}
            }
        }
    }

    /// Runs `f` on a thread and gives its result, or panics after `limit`: a test that would
    /// hang fails instead.
    pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit)
            .unwrap_or_else(|_| panic!("still waiting after {limit:?}: the client hangs"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{BadServer, Misbehaviour, within};
    use super::*;

    fn client() -> reqwest::blocking::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap()
    }

    #[test]
    fn a_dripping_answer_is_cut_off_at_the_deadline() {
        let server = BadServer::start(Misbehaviour::Drip {
            interval: Duration::from_millis(200),
        });
        let url = server.url.clone();
        let got = within(Duration::from_secs(20), move || {
            exchange(client().get(url), Duration::from_secs(1), MAX_ANSWER)
        });
        let e = got.unwrap_err();
        assert!(matches!(e, Failure::TimedOut(_)), "{e:?}");
        assert!(e.to_string().contains("within 1s"), "{e}");
    }

    #[test]
    fn an_answer_larger_than_the_cap_is_refused() {
        let server = BadServer::start(Misbehaviour::Endless { status: 200 });
        let url = server.url.clone();
        let got = within(Duration::from_secs(20), move || {
            exchange(client().get(url), Duration::from_secs(10), 1 << 20)
        });
        let e = got.unwrap_err();
        assert!(matches!(e, Failure::TooLarge(_)), "{e:?}");
        assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
    }
}
