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
//!
//! JSON answers ([`exchange_json`]) are parsed on the worker, under the same deadline and cap:
//! a 2xx body past [`WHOLE_UP_TO`] (a large listing) as it arrives, so that it is never held
//! whole beside the values parsed from it; a smaller one from memory, faster (any other status
//! is read whole, for its error text).

use std::io::{BufReader, Read};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use serde::de::{DeserializeOwned, DeserializeSeed};

/// The largest answer the OpenStack, Redfish and webhook clients read: far above any real
/// one (a `servers/detail` page of 1000 servers is a few MiB), far below what would hurt.
pub const MAX_ANSWER: u64 = 64 << 20;

/// An answer, whatever its status: its body whole ([`exchange`]) or parsed ([`exchange_json`]).
#[derive(Debug)]
pub struct Answer<B = Vec<u8>> {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: B,
}

/// The body of an answer of [`exchange_json`].
#[derive(Debug)]
pub enum Json<V> {
    /// A 2xx answer, parsed as it arrived: the value, or serde's complaint (the body is not
    /// the JSON expected).
    Parsed {
        value: Result<V, serde_json::Error>,
        /// The body's size.
        bytes: u64,
        /// Its first bytes (at most [`HEAD`]), for messages.
        head: Vec<u8>,
    },
    /// Any other answer, whole: its text says why.
    Whole(Vec<u8>),
}

/// What the clients need of a body however it was read: its size, and its bytes when it was
/// read whole (an error status's text).
pub trait Body: Send + 'static {
    fn size(&self) -> u64;
    /// The whole body; empty when it was parsed as it arrived.
    fn bytes(&self) -> &[u8];
}

impl Body for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

impl<V: Send + 'static> Body for Json<V> {
    fn size(&self) -> u64 {
        match self {
            Json::Parsed { bytes, .. } => *bytes,
            Json::Whole(body) => body.len() as u64,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Json::Parsed { .. } => &[],
            Json::Whole(body) => body,
        }
    }
}

/// How the worker reads a body: [`Whole`], or as JSON with [`Streamed`]. Cloned for each
/// attempt of a request that is sent again.
pub trait Reading: Clone + Send + 'static {
    type Body: Body;
    fn read(self, status: u16, body: &mut Limited<'_>) -> Result<Self::Body, Failure>;
}

/// The body whole, whatever the status.
#[derive(Clone, Copy, Debug)]
pub struct Whole;

impl Reading for Whole {
    type Body = Vec<u8>;

    fn read(self, _status: u16, body: &mut Limited<'_>) -> Result<Vec<u8>, Failure> {
        body.whole()
    }
}

/// A 2xx body parsed as JSON by the seed ([`typed`] for a `DeserializeOwned`): read whole and
/// parsed from memory up to [`WHOLE_UP_TO`] bytes, parsed as it arrives past that; any other
/// body whole.
#[derive(Clone, Copy, Debug)]
pub struct Streamed<S> {
    seed: S,
    whole_up_to: usize,
}

/// The largest 2xx body parsed from memory, the OpenStack clients' cap: serde_json parses a
/// slice much faster than a reader (it scans a slice's strings in bulk, a reader's byte by
/// byte), and at 50,000 hosts streaming the listings past 4 MiB cost `watch` 0.3-0.8 s of CPU
/// more (of 2-3 s) and lowered no peak RSS: the values parsed and what is built from them make
/// the peak, not the bodies (BENCHMARKS.md). Past it, only Consul's check lists of the largest
/// clouds (they may be 512 MiB) are parsed as they arrive.
pub const WHOLE_UP_TO: usize = MAX_ANSWER as usize;

impl<S> Streamed<S> {
    pub fn new(seed: S) -> Streamed<S> {
        Streamed {
            seed,
            whole_up_to: WHOLE_UP_TO,
        }
    }

    /// Parses from memory only bodies of at most `bytes` (0: every body as it arrives).
    pub fn whole_up_to(self, bytes: usize) -> Streamed<S> {
        Streamed {
            whole_up_to: bytes,
            ..self
        }
    }
}

/// The seed that parses a `T`.
pub fn typed<T: DeserializeOwned>() -> PhantomData<T> {
    PhantomData
}

impl<S, V> Reading for Streamed<S>
where
    S: for<'de> DeserializeSeed<'de, Value = V> + Clone + Send + 'static,
    V: Send + 'static,
{
    type Body = Json<V>;

    fn read(self, status: u16, body: &mut Limited<'_>) -> Result<Json<V>, Failure> {
        if !(200..300).contains(&status) {
            return body.whole().map(Json::Whole);
        }
        let (first, ended) = body.up_to(self.whole_up_to)?;
        if ended {
            let mut de = serde_json::Deserializer::from_slice(&first);
            let value = self
                .seed
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v));
            return Ok(Json::Parsed {
                value,
                bytes: body.read,
                head: std::mem::take(&mut body.head),
            });
        }
        let value = {
            // serde_json reads a byte at a time: from a buffer, not from the connection.
            let rest = std::io::Cursor::new(first).chain(&mut *body);
            let mut de =
                serde_json::Deserializer::from_reader(BufReader::with_capacity(CHUNK, rest));
            self.seed
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v))
        };
        // Not the JSON expected: the rest is read all the same, for the failures that come
        // before it when the body is read whole (too large, too slow, broken off).
        if value.is_err() && body.failure.is_none() {
            let mut sink = vec![0u8; CHUNK];
            while matches!(body.read(&mut sink), Ok(n) if n > 0) {}
        }
        // A read that failed (the deadline, the cap, a broken connection) says why the
        // parse stopped, not serde's "EOF" or "io error".
        if let Some(failure) = body.failure.take() {
            return Err(failure);
        }
        Ok(Json::Parsed {
            value,
            bytes: body.read,
            head: std::mem::take(&mut body.head),
        })
    }
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
    exchange_with(request, timeout, cap, Whole)
}

/// [`exchange`], a 2xx answer's body parsed as JSON by `seed` ([`typed`] for a
/// `DeserializeOwned`) as it arrives: the whole answer, parse included, within `timeout`,
/// and at most `cap` bytes read.
pub fn exchange_json<S, V>(
    request: RequestBuilder,
    timeout: Duration,
    cap: u64,
    seed: S,
) -> Result<Answer<Json<V>>, Failure>
where
    S: for<'de> DeserializeSeed<'de, Value = V> + Clone + Send + 'static,
    V: Send + 'static,
{
    exchange_with(request, timeout, cap, Streamed::new(seed))
}

/// [`exchange`], the body read as `reading` says.
pub fn exchange_with<R: Reading>(
    request: RequestBuilder,
    timeout: Duration,
    cap: u64,
    reading: R,
) -> Result<Answer<R::Body>, Failure> {
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
                let _ = tx.send(run(request, deadline, timeout, cap, &given_up, reading));
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
fn run<R: Reading>(
    request: RequestBuilder,
    deadline: Option<Instant>,
    timeout: Duration,
    cap: u64,
    given_up: &AtomicBool,
    reading: R,
) -> Result<Answer<R::Body>, Failure> {
    let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
    if left.is_zero() || given_up.load(Ordering::SeqCst) {
        return Err(Failure::TimedOut(timeout));
    }
    let response = request.timeout(left).send().map_err(Failure::Send)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(Failure::TooLarge(cap));
    }
    let mut limited = Limited {
        response,
        deadline,
        timeout,
        cap,
        given_up,
        read: 0,
        head: Vec::new(),
        failure: None,
    };
    let body = reading.read(status, &mut limited)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The size of one read of a body.
const CHUNK: usize = 64 * 1024;

/// The first bytes of a parsed body kept for messages.
pub const HEAD: usize = 512;

/// An answer's body as the worker reads it: each read within the deadline (unless the caller
/// gave up), the total within the cap; the failure that ended the reads is kept, so that a
/// parse cut short by it reports it.
pub struct Limited<'a> {
    response: reqwest::blocking::Response,
    deadline: Option<Instant>,
    timeout: Duration,
    cap: u64,
    given_up: &'a AtomicBool,
    /// Bytes read so far.
    read: u64,
    head: Vec<u8>,
    failure: Option<Failure>,
}

impl Limited<'_> {
    /// The rest of the body, whole.
    fn whole(&mut self) -> Result<Vec<u8>, Failure> {
        Ok(self.up_to(usize::MAX)?.0)
    }

    /// The body until its end or until at least `limit` bytes (`limit` 0: nothing read), and
    /// whether it ended.
    fn up_to(&mut self, limit: usize) -> Result<(Vec<u8>, bool), Failure> {
        let mut body = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        while body.len() < limit {
            match self.read(&mut chunk) {
                Ok(0) => return Ok((body, true)),
                Ok(n) => body.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    return Err(self
                        .failure
                        .take()
                        .unwrap_or_else(|| Failure::Broken(e.to_string())));
                }
            }
        }
        Ok((body, false))
    }

    fn next(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        let n = buf.len().min(CHUNK);
        let buf = &mut buf[..n];
        loop {
            let late = self.deadline.is_some_and(|d| Instant::now() >= d);
            if late || self.given_up.load(Ordering::SeqCst) {
                return Err(Failure::TimedOut(self.timeout));
            }
            match self.response.read(buf) {
                Ok(n) => {
                    if self.read + n as u64 > self.cap {
                        return Err(Failure::TooLarge(self.cap));
                    }
                    self.read += n as u64;
                    if self.head.len() < HEAD {
                        let more = (HEAD - self.head.len()).min(n);
                        self.head.extend_from_slice(&buf[..more]);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // reqwest ends the body itself at the request's timeout (the same deadline,
                // give or take its start): that is a timeout too, not a broken answer.
                Err(e) if is_timeout(&e) || self.deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Err(Failure::TimedOut(self.timeout));
                }
                Err(e) => return Err(Failure::Broken(e.to_string())),
            }
        }
    }
}

impl Read for Limited<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(failure) = &self.failure {
            return Err(std::io::Error::other(failure.to_string()));
        }
        self.next(buf).map_err(|failure| {
            let e = std::io::Error::other(failure.to_string());
            self.failure = Some(failure);
            e
        })
    }
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
        /// A 200 without a length, then a JSON array that never ends: `[0,0,0,...`.
        EndlessJson,
        /// An answer announcing `announced` bytes (the body's length if `None`), then `body`,
        /// then the connection closed.
        Answer {
            status: u16,
            body: &'static str,
            announced: Option<usize>,
        },
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
            Misbehaviour::Endless { status } => endless(conn, status, b"", b"x", stop),
            Misbehaviour::EndlessJson => endless(conn, 200, b"[", b"0,", stop),
            Misbehaviour::Answer {
                status,
                body,
                announced,
            } => {
                let head = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    announced.unwrap_or(body.len())
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body.as_bytes());
            }
        }
    }

    /// A `status` without a length, `first`, then `unit` over and over until the client hangs
    /// up.
    fn endless(mut conn: TcpStream, status: u16, first: &[u8], unit: &[u8], stop: &AtomicBool) {
        let head = format!(
            "HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\n\
             Connection: close\r\n\r\n"
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(first).is_err() {
            return;
        }
        let chunk = unit.repeat(64 * 1024 / unit.len());
        while !stop.load(Ordering::Relaxed) && conn.write_all(&chunk).is_ok() {}
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
            Whole,
        );
        assert!(matches!(late, Err(Failure::TimedOut(_))), "{late:?}");
        let given_up = run(
            client().post(&url),
            Instant::now().checked_add(Duration::from_secs(5)),
            Duration::from_secs(5),
            MAX_ANSWER,
            &AtomicBool::new(true),
            Whole,
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
            Whole,
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

    /// A listing as [`exchange_json`] reads it from `how`, into `T`, within `timeout`, parsed
    /// as it arrives (`streamed`) or from memory.
    fn listing<T: DeserializeOwned + Send + 'static>(
        how: Misbehaviour,
        timeout: Duration,
        cap: u64,
        streamed: bool,
    ) -> Result<Answer<Json<T>>, Failure> {
        let server = BadServer::start(how);
        let url = server.url.clone();
        let reading =
            Streamed::new(typed::<T>()).whole_up_to(if streamed { 0 } else { WHOLE_UP_TO });
        within(Duration::from_secs(60), move || {
            let _server = server;
            exchange_with(client().get(url), timeout, cap, reading)
        })
    }

    /// What serde said of a 2xx listing.
    fn parsed<T: std::fmt::Debug>(answer: Result<Answer<Json<T>>, Failure>) -> Result<T, String> {
        match answer.expect("an answer").body {
            Json::Parsed { value, .. } => value.map_err(|e| e.to_string()),
            Json::Whole(body) => panic!("read whole: {body:?}"),
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Listing {
        items: Vec<u32>,
    }

    fn answer(status: u16, body: &'static str) -> Misbehaviour {
        Misbehaviour::Answer {
            status,
            body,
            announced: None,
        }
    }

    #[test]
    fn a_listing_is_parsed_as_it_arrives() {
        // From memory and as it arrives alike.
        for streamed in [false, true] {
            let body = r#"{"items": [1, 2, 3], "other": {"x": null}}"#;
            let got = listing::<Listing>(
                answer(200, body),
                Duration::from_secs(10),
                MAX_ANSWER,
                streamed,
            );
            let Json::Parsed { value, bytes, head } = got.unwrap().body else {
                panic!("read whole");
            };
            assert_eq!(value.unwrap().items, [1, 2, 3]);
            assert_eq!(bytes, body.len() as u64);
            assert_eq!(head, body.as_bytes());
            // Another status is read whole, for its text.
            let got = listing::<Listing>(
                answer(404, "no such thing"),
                Duration::from_secs(10),
                1024,
                streamed,
            );
            let got = got.unwrap();
            assert_eq!(got.status, 404);
            assert!(
                matches!(&got.body, Json::Whole(b) if b == b"no such thing"),
                "{got:?}"
            );
        }
    }

    #[test]
    fn a_listing_that_is_not_the_json_expected_says_what_serde_says() {
        // From memory and as it arrives alike.
        for streamed in [false, true] {
            let t = Duration::from_secs(10);
            let torn_json = parsed(listing::<Listing>(
                answer(200, r#"{"items": [1, 2"#),
                t,
                1024,
                streamed,
            ));
            assert!(torn_json.unwrap_err().contains("EOF while parsing"));
            let other = parsed(listing::<Listing>(
                answer(200, r#"{"items": "x"}"#),
                t,
                1024,
                streamed,
            ));
            assert!(other.unwrap_err().starts_with("invalid type: string"));
            let not_json = parsed(listing::<Listing>(answer(200, "<html>"), t, 1024, streamed));
            assert!(not_json.unwrap_err().starts_with("expected value"));
            let trailing = parsed(listing::<Listing>(
                answer(200, r#"{"items": []} x"#),
                t,
                1024,
                streamed,
            ));
            assert!(trailing.unwrap_err().contains("trailing characters"));
            // A body that broke off (shorter than announced) is a broken answer, not bad JSON.
            let torn = Misbehaviour::Answer {
                status: 200,
                body: r#"{"items": [1, 2"#,
                announced: Some(1000),
            };
            let e = listing::<Listing>(torn, t, 1024, streamed).unwrap_err();
            assert!(matches!(e, Failure::Broken(_)), "{e:?}");
        }
    }

    #[test]
    fn a_streamed_listing_larger_than_the_cap_is_refused() {
        // From memory and as it arrives alike.
        for streamed in [false, true] {
            let t = Duration::from_secs(20);
            // Good JSON all along: the parse goes on until the cap.
            let e =
                listing::<Vec<u8>>(Misbehaviour::EndlessJson, t, 1 << 20, streamed).unwrap_err();
            assert!(matches!(e, Failure::TooLarge(_)), "{e:?}");
            assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
            // Not JSON from the first byte: read on all the same, as a whole read would.
            let e = listing::<Vec<u8>>(Misbehaviour::Endless { status: 200 }, t, 1 << 20, streamed);
            assert!(matches!(e, Err(Failure::TooLarge(_))), "{e:?}");
            // Announced larger than the cap: not read at all.
            let big = Misbehaviour::Answer {
                status: 200,
                body: "[]",
                announced: Some(2 << 20),
            };
            let e = listing::<Vec<u8>>(big, t, 1 << 20, streamed);
            assert!(matches!(e, Err(Failure::TooLarge(_))), "{e:?}");
        }
    }

    #[test]
    fn a_dripping_listing_is_cut_off_at_the_deadline() {
        // From memory and as it arrives alike.
        for streamed in [false, true] {
            let drip = Misbehaviour::Drip {
                interval: Duration::from_millis(200),
            };
            let e =
                listing::<Listing>(drip, Duration::from_secs(1), MAX_ANSWER, streamed).unwrap_err();
            assert!(matches!(e, Failure::TimedOut(_)), "{e:?}");
            assert!(e.to_string().contains("within 1s"), "{e}");
        }
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
