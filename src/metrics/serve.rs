//! `GET /metrics` on `[metrics] listen`: a small HTTP/1.1 responder on its own thread, one
//! connection at a time (a scraper every few seconds needs no more). Each request is bounded:
//! at most [`MAX_REQUEST`] bytes of head, read and written within [`IO_TIMEOUT`], then the
//! connection is closed. Anything but `GET`/`HEAD /metrics` is answered 404 or 405.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A request head larger than this is refused (431).
pub const MAX_REQUEST: usize = 8 * 1024;
/// Reading a request, or writing its answer, takes at most this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text served; replaced after every cycle.
#[derive(Clone, Default)]
pub struct Exposition(Arc<RwLock<String>>);

impl Exposition {
    pub fn set(&self, text: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = text;
    }

    fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The listening socket and its thread (which lives as long as the process).
pub struct Server {
    pub addr: SocketAddr,
}

impl Server {
    /// Binds `addr` (an error when taken or not allowed) and serves `text` from a thread.
    pub fn start(addr: SocketAddr, text: Exposition) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        // The thread logs through the subscriber in force here (as the notifier's workers).
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for conn in listener.incoming() {
                        match conn {
                            Ok(stream) => {
                                if let Err(e) = answer(stream, &text) {
                                    tracing::debug!("metrics: a request failed: {e}");
                                }
                            }
                            Err(e) => {
                                tracing::debug!("metrics: accept failed: {e}");
                                // EMFILE and the like: do not spin.
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                })
            })?;
        Ok(Server { addr })
    }
}

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, text: &Exposition) -> std::io::Result<()> {
    let started = Instant::now();
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if head.len() > MAX_REQUEST {
            break false;
        }
        // The whole head within IO_TIMEOUT: a client that drips a byte at a time is cut off.
        let left = IO_TIMEOUT.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
    };
    let (status, body) = if complete {
        route(&String::from_utf8_lossy(&head), text)
    } else {
        ("431 Request Header Fields Too Large", String::new())
    };
    let head_only = head.starts_with(b"HEAD ");
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// The status and body for a request head.
fn route(head: &str, text: &Exposition) -> (&'static str, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", text.get()),
        (_, "/metrics") => ("405 Method Not Allowed", String::new()),
        _ => ("404 Not Found", "see /metrics\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest() {
        let text = Exposition::default();
        text.set("evacctl_leader 1\n".into());
        let server = Server::start("127.0.0.1:0".parse().unwrap(), text.clone()).unwrap();
        let a = server.addr;
        let ok = request(a, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\nevacctl_leader 1\n"), "{ok}");
        // The text follows the cycles.
        text.set("evacctl_leader 0\n".into());
        let ok = request(a, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(ok.ends_with("evacctl_leader 0\n"), "{ok}");
        let head = request(a, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let r = request(a, b"GET / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = request(a, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        // A head without end, larger than the limit: refused, not read for ever.
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
        let r = request(a, &big);
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        // A client that says nothing and goes away does not stop the server.
        drop(TcpStream::connect(a).unwrap());
        let ok = request(a, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    }
}
