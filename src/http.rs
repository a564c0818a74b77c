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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
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

/// How often a caller waiting for its answer looks for a signal that abandons it.
const SLICE: Duration = Duration::from_millis(100);

/// Sends `request` and reads its whole answer, within `timeout` from now and at most `cap`
/// bytes of body.
///
/// A request the caller gives up on (at the deadline, or abandoned on a signal in `watch`:
/// [`crate::interrupt::abandoning`]) is never sent after the give-up: the caller journals it
/// in doubt from that moment, and a request leaving later could reach the server after that
/// doubt had been settled (a hand-over's hold ended, another run sent it again). So the
/// worker sends only while the caller still waits, and reqwest's own timeout ends at the
/// caller's deadline, not a full timeout after the worker started.
pub fn exchange(request: RequestBuilder, timeout: Duration, cap: u64) -> Result<Answer, Failure> {
    if let Some(signal) = crate::interrupt::abandoning() {
        return Err(abandoned(signal));
    }
    let started = Instant::now();
    let deadline = started.checked_add(timeout);
    let given_up = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(1);
    let worker = {
        let given_up = Arc::clone(&given_up);
        std::thread::Builder::new()
            .name("evacctl-http".into())
            .spawn(move || {
                let _ = tx.send(run(request, deadline, timeout, cap, &given_up));
            })
    };
    if let Err(e) = worker {
        // No thread to spare (the request went with the closure): nothing was sent.
        return Err(Failure::Broken(format!("cannot start a thread: {e}")));
    }
    let give_up = |failure: Failure| {
        given_up.store(true, Ordering::SeqCst);
        Err(failure)
    };
    loop {
        let left = deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return give_up(Failure::TimedOut(timeout));
        }
        match rx.recv_timeout(left.min(SLICE)) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(signal) = crate::interrupt::abandoning() {
                    return give_up(abandoned(signal));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Broken("the HTTP worker stopped".into()));
            }
        }
    }
}

/// A request left unanswered on a signal: in doubt, as one that timed out.
fn abandoned(signal: crate::interrupt::Signal) -> Failure {
    Failure::Broken(format!("abandoned: stopped by {}", signal.name()))
}

/// The worker: sends `request` unless the caller has given up or its deadline has passed (it
/// may start late on a loaded machine), with reqwest's timeout ending at that deadline.
fn run(
    request: RequestBuilder,
    deadline: Option<Instant>,
    timeout: Duration,
    cap: u64,
    given_up: &AtomicBool,
) -> Result<Answer, Failure> {
    let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
    if left.is_zero() || given_up.load(Ordering::SeqCst) {
        return Err(Failure::TimedOut(timeout));
    }
    let mut response = request.timeout(left).send().map_err(Failure::Send)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(Failure::TooLarge(cap));
    }
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) || given_up.load(Ordering::SeqCst) {
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

    /// A server that counts the connections it accepts.
    fn counting_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        (url, seen)
    }

    /// The flake this guards against: on a loaded machine the worker may start after its
    /// caller has given up and journaled the request in doubt; sending it then would let it
    /// reach Nova after that doubt was settled (a hand-over's hold over, the request sent
    /// again by another run). A worker past its deadline, or whose caller gave up, sends
    /// nothing.
    #[test]
    fn a_worker_that_starts_after_the_give_up_sends_nothing() {
        let (url, seen) = counting_server();
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let late = run(
            client().post(&url),
            Some(past),
            Duration::from_secs(5),
            MAX_ANSWER,
            &AtomicBool::new(false),
        );
        assert!(matches!(late, Err(Failure::TimedOut(_))), "{late:?}");
        let given_up = run(
            client().post(&url),
            Instant::now().checked_add(Duration::from_secs(5)),
            Duration::from_secs(5),
            MAX_ANSWER,
            &AtomicBool::new(true),
        );
        assert!(
            matches!(given_up, Err(Failure::TimedOut(_))),
            "{given_up:?}"
        );
        // The control: a worker in time does send.
        let _ = run(
            client().post(&url),
            Instant::now().checked_add(Duration::from_secs(5)),
            Duration::from_secs(5),
            MAX_ANSWER,
            &AtomicBool::new(false),
        );
        within(Duration::from_secs(20), {
            let seen = Arc::clone(&seen);
            move || {
                while seen.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "only the worker in time sent"
        );
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
