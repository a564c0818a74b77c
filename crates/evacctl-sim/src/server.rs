//! The HTTP server: binds loopback only, reads each request whole, applies injected faults,
//! dispatches to the API modules by the first path segment, stamps request ids and logs.
//!
//! Routing is by hand (slice patterns in each module) rather than axum's router, so every
//! answer, including 404, 405 and oversized bodies, has the real service's JSON error shape.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Response, header};

use super::clock;
use super::control::{self, LoggedRequest};
use super::http::{ApiKind, Reply, ReplyBody, SimRequest, parse_query, split_path};
use super::scenario::Scenario;
use super::world::{SharedWorld, World};
use super::{cinder, compute, consul, keystone, nova, placement, redfish};

/// Largest request body read; more is refused with 413.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "refusing to listen on {0}: the simulated cloud binds loopback only \
         (127.0.0.1 or [::1], any port)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Loopback only: the simulated cloud has fixed, published credentials.
pub fn check_listen_addr(addr: SocketAddr) -> Result<(), SimError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(SimError::NotLoopback(addr))
    }
}

/// `http://127.0.0.1:PORT` or `http://[::1]:PORT`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

#[derive(Clone)]
struct App {
    world: SharedWorld,
    base_url: String,
    target: Target,
}

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Keystone, Nova, Cinder, Placement and the control API, by path.
    Cloud,
    /// One Consul cluster (index into `world.consul.clusters`), at `/v1/...`.
    Consul(usize),
}

/// A bound, not yet serving, simulated cloud: the ports are known before the first request.
pub struct BoundSim {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    app: App,
    /// One listener per Consul cluster, on the same loopback address.
    consul: Vec<(tokio::net::TcpListener, App)>,
}

/// Builds the world from a scenario and binds `listen` (loopback only; port 0 picks one).
pub async fn bind(scenario: &Scenario, listen: SocketAddr) -> Result<BoundSim, SimError> {
    check_listen_addr(listen)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let world = SharedWorld::new(World::new(scenario, clock::now()));
    let mut consul = Vec::new();
    let clusters = world.lock().consul.clusters.len();
    for c in 0..clusters {
        let at = SocketAddr::new(listen.ip(), 0);
        let l = tokio::net::TcpListener::bind(at)
            .await
            .map_err(|source| SimError::Bind { addr: at, source })?;
        let url = base_url(l.local_addr()?);
        world.lock().consul.clusters[c].url = Some(url.clone());
        let app = App {
            world: world.clone(),
            base_url: url,
            target: Target::Consul(c),
        };
        consul.push((l, app));
    }
    Ok(BoundSim {
        listener,
        addr,
        app: App {
            world,
            base_url: base_url(addr),
            target: Target::Cloud,
        },
        consul,
    })
}

impl BoundSim {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> &str {
        &self.app.base_url
    }

    /// The world, for in-process callers that want to look or poke without HTTP.
    pub fn world(&self) -> SharedWorld {
        self.app.world.clone()
    }

    /// Each Consul cluster's (name, URL), in the scenario's order.
    pub fn consul_urls(&self) -> Vec<(String, String)> {
        consul_urls(&self.app.world)
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SimError> {
        // One shutdown for every listener.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let mut consul = Vec::new();
        for (listener, app) in self.consul {
            let router = Router::new().fallback(entry).with_state(app);
            let stop = stopped(stop_rx.clone());
            consul.push(tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
            }));
        }
        let router = Router::new().fallback(entry).with_state(self.app);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(stopped(stop_rx))
            .await?;
        for task in consul {
            if let Ok(Err(e)) = task.await {
                tracing::error!("a Consul listener stopped: {e}");
            }
        }
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes.
pub async fn serve(
    scenario: &Scenario,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    bind(scenario, listen).await?.serve(shutdown).await
}

fn consul_urls(world: &SharedWorld) -> Vec<(String, String)> {
    world
        .lock()
        .consul
        .clusters
        .iter()
        .filter_map(|c| c.url.clone().map(|u| (c.name.clone(), u)))
        .collect()
}

/// A simulated cloud running on its own thread, for in-process tests; stops when dropped.
pub struct SimHandle {
    url: String,
    addr: SocketAddr,
    world: SharedWorld,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a simulated cloud on a background thread with its own runtime.
pub fn spawn(scenario: &Scenario, listen: SocketAddr) -> Result<SimHandle, SimError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bound = runtime.block_on(bind(scenario, listen))?;
    let (url, addr, world) = (bound.url().to_string(), bound.local_addr(), bound.world());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("evacctl-sim".into())
        .spawn(move || {
            let done = runtime.block_on(bound.serve(async {
                let _ = rx.await;
            }));
            if let Err(e) = done {
                tracing::error!("simulated cloud stopped: {e}");
            }
        })?;
    Ok(SimHandle {
        url,
        addr,
        world,
        stop: Some(tx),
        thread: Some(thread),
    })
}

impl SimHandle {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn world(&self) -> SharedWorld {
        self.world.clone()
    }

    /// Each Consul cluster's (name, URL).
    pub fn consul_urls(&self) -> Vec<(String, String)> {
        consul_urls(&self.world)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // No join here: a client still holding a connection must not hang a test's drop.
        self.shutdown();
    }
}

/// The one handler: every request comes here. It runs on its own task, to completion even
/// when the client goes away, as a WSGI server runs Nova's API: an evacuation whose client was
/// killed while Nova was still handling it lands all the same (seen on Zed).
async fn entry(state: State<App>, request: Request) -> Response<Body> {
    match tokio::spawn(handle(state, request)).await {
        Ok(reply) => reply,
        Err(e) => {
            let mut reply = Response::new(Body::from(format!("handler failed: {e}")));
            *reply.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
            reply
        }
    }
}

async fn handle(State(app): State<App>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let segments = split_path(&path);
    let api = match app.target {
        Target::Cloud => ApiKind::of_path(&segments),
        Target::Consul(_) => ApiKind::Consul,
    };
    let mut req = SimRequest {
        method: parts.method.clone(),
        query: raw_query.as_deref().map(parse_query).unwrap_or_default(),
        path,
        raw_query,
        segments,
        headers: parts.headers,
        body: Vec::new(),
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        base_url: app.base_url.clone(),
        now: clock::now(),
    };
    let reply = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            req.body = bytes.to_vec();
            None
        }
        Err(_) => Some(api.error(
            413,
            &format!("Request body is larger than {MAX_BODY} bytes."),
        )),
    };
    // Consul requests are logged and matched by faults as /consul/<cluster>/v1/...: the
    // clusters share their paths, so the listener's name tells them apart.
    let logged_path = match app.target {
        Target::Cloud => req.path.clone(),
        Target::Consul(c) => {
            let name = app.world.lock().consul.clusters[c].name.clone();
            format!("/consul/{name}{}", req.path)
        }
    };
    let path_and_query = match &req.raw_query {
        Some(q) => format!("{logged_path}?{q}"),
        None => logged_path.clone(),
    };
    // Control requests are neither faulted nor logged: tests must be able to steer and count.
    let fault = if api == ApiKind::Control {
        None
    } else {
        app.world
            .lock()
            .faults
            .take(req.method.as_str(), &path_and_query)
    };
    if let Some(f) = &fault
        && f.latency_ms > 0
    {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        req.now = clock::now();
    }
    // nova-api's workers (see `control::workers`): queue for one, then hold it for the
    // service time, the wait on a dead compute and the handler, as a WSGI worker does.
    let worker = if api == ApiKind::Compute {
        let pool = app.world.lock().faults.api_workers.clone();
        let permit = pool.acquire().await;
        if !permit.service.is_zero() {
            tokio::time::sleep(permit.service).await;
        }
        if permit.waited.is_some() || !permit.service.is_zero() {
            req.now = clock::now();
        }
        Some(permit)
    } else {
        None
    };
    // nova-api waiting on a compute that will never answer (see `compute::rpc_wait`).
    if api == ApiKind::Compute {
        let wait = compute::rpc_wait(&app.world.lock(), &req, req.now);
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            req.now = clock::now();
        }
    }
    // A slow BMC (set through the control API) answers late.
    if api == ApiKind::Redfish {
        let ms = redfish::latency_ms(&app.world.lock(), &req.segments);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            req.now = clock::now();
        }
    }
    // A Consul blocking query is held here, the world unlocked, until what it reads changes.
    let reply = match (reply, app.target) {
        (None, Target::Consul(c)) if fault.as_ref().is_none_or(|f| f.status.is_none()) => {
            let held = consul::hold_blocking(&app.world, c, &req).await.err();
            req.now = clock::now();
            held
        }
        (reply, _) => reply,
    };
    let started = std::time::Instant::now();
    let reply = match (reply, &fault) {
        (Some(r), _) => r,
        (None, Some(f)) if f.status.is_some() => fault_reply(api, f),
        (None, _) => dispatch_guarded(&app.world, &req, api, app.target),
    };
    drop(worker);
    let reply = if api == ApiKind::Consul {
        reply
    } else {
        stamp_request_id(reply, api, &req.request_id)
    };
    let status = reply.status.as_u16();
    let (response, bytes) = to_response(reply, req.method == Method::HEAD);
    let handler_us = started.elapsed().as_micros() as u64;
    tracing::info!(
        "{} {} {} {}",
        req.method,
        path_and_query,
        status,
        req.request_id
    );
    if api != ApiKind::Control {
        let microversion = req
            .header("openstack-api-version")
            .or_else(|| req.header("x-openstack-nova-api-version"))
            .map(str::to_string);
        app.world.lock().requests.push(LoggedRequest {
            seq: 0,
            at: clock::iso_micros_z(req.now),
            api,
            method: req.method.to_string(),
            path: logged_path,
            query: req.raw_query.clone(),
            microversion,
            with_token: req.headers.contains_key("x-auth-token"),
            status,
            request_id: req.request_id.clone(),
            fault: fault.as_ref().map(|f| f.id),
            bytes,
            handler_us,
        });
    }
    response
}

fn fault_reply(api: ApiKind, f: &control::Fault) -> Reply {
    let status = f.status.unwrap_or(500);
    match &f.body {
        Some(text) => Reply::raw(status, "application/json", text.clone()),
        None => api.error(status, &format!("Injected fault {} (evacctl-sim).", f.id)),
    }
}

/// Runs the API handler; a panic (a bug) becomes a 500 in the API's shape, never a dropped
/// connection.
fn dispatch_guarded(world: &SharedWorld, req: &SimRequest, api: ApiKind, target: Target) -> Reply {
    let run = AssertUnwindSafe(|| {
        let mut w = world.lock();
        match target {
            Target::Cloud => dispatch(&mut w, req, api),
            Target::Consul(c) => consul::handle(&mut w, c, req),
        }
    });
    std::panic::catch_unwind(run).unwrap_or_else(|_| {
        tracing::error!("handler panicked on {} {}", req.method, req.path);
        api.error(
            500,
            "The simulated cloud hit an internal error (a bug in evacctl-sim).",
        )
    })
}

/// Routes by the first path segment.
pub fn dispatch(world: &mut World, req: &SimRequest, api: ApiKind) -> Reply {
    match api {
        ApiKind::Identity => keystone::handle(world, req),
        ApiKind::Compute => nova::handle(world, req),
        ApiKind::Volume => cinder::handle(world, req),
        ApiKind::Placement => placement::handle(world, req),
        ApiKind::Image => super::compute::image(world, req),
        ApiKind::Control => control::handle(world, req),
        ApiKind::Redfish => redfish::handle(world, req),
        ApiKind::Root if req.segments.is_empty() => {
            let b = &req.base_url;
            Reply::json(
                200,
                serde_json::json!({"evacctl-sim": {
                    "identity": format!("{b}/identity/v3"),
                    "compute": format!("{b}/compute/v2.1"),
                    "volume": format!("{b}/volume/v3"),
                    "placement": format!("{b}/placement"),
                    "control": format!("{b}/_sim/state"),
                    "redfish": format!("{b}/redfish/v1"),
                }}),
            )
        }
        ApiKind::Root | ApiKind::Consul => api.error(404, "The resource could not be found."),
    }
}

fn stamp_request_id(reply: Reply, api: ApiKind, id: &str) -> Reply {
    let reply = reply.with_header("x-openstack-request-id", id);
    if api == ApiKind::Compute {
        reply.with_header("x-compute-request-id", id)
    } else {
        reply
    }
}

/// The response, and the size of the body sent.
fn to_response(reply: Reply, head: bool) -> (Response<Body>, u64) {
    let (content_type, body) = match reply.body {
        ReplyBody::Empty => (None, String::new()),
        ReplyBody::Json(v) => (Some("application/json".to_string()), v.to_string()),
        ReplyBody::Raw(ct, text) => (Some(ct), text),
    };
    let bytes = if head { 0 } else { body.len() as u64 };
    let mut response = Response::new(if head {
        Body::empty()
    } else {
        Body::from(body)
    });
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    for (name, value) in reply.headers {
        // A header that cannot be sent is dropped rather than failing the whole answer.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(n, v);
        }
    }
    (response, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_must_be_loopback() {
        for ok in ["127.0.0.1:0", "[::1]:8080", "127.0.0.1:5000"] {
            assert!(check_listen_addr(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:0", "[::]:0", "10.0.0.1:80", "192.168.1.2:0"] {
            let e = check_listen_addr(bad.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains("loopback only"), "{e}");
        }
        assert_eq!(base_url("[::1]:80".parse().unwrap()), "http://[::1]:80");
    }

    #[test]
    fn spawn_serves_in_process() {
        let scenario = Scenario::builtin_default().unwrap();
        let cloud = spawn(&scenario, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(cloud.url().starts_with("http://127.0.0.1:"));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::new();
        let resp = http
            .get(format!("{}/compute/v2.1/", cloud.url()))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers().contains_key("x-compute-request-id"));
        cloud
            .world()
            .lock()
            .power_off("compute-1", clock::now())
            .unwrap();
        let state: serde_json::Value = http
            .get(format!("{}/_sim/hosts/compute-1", cloud.url()))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(state["host"]["power"], "off");
        cloud.stop();
    }

    #[test]
    fn nova_api_serves_at_most_its_workers_and_queues_the_rest() {
        let scenario = Scenario::builtin_default().unwrap();
        let cloud = spawn(&scenario, "127.0.0.1:0".parse().unwrap()).unwrap();
        let ctl = crate::ctl::ControlClient::new(cloud.url()).unwrap();
        ctl.set_api_workers(2, 100).unwrap();
        // Keystone is not nova-api: not counted.
        let http = reqwest::blocking::Client::new();
        http.get(format!("{}/identity/v3", cloud.url()))
            .send()
            .unwrap();
        let start = std::time::Instant::now();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (url, barrier) = (cloud.url().to_string(), barrier.clone());
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    barrier.wait();
                    http.get(format!("{url}/compute/v2.1/"))
                        .send()
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().as_u16(), 200);
        }
        // 6 requests of 100 ms on 2 workers: three rounds at least, whatever the load.
        assert!(start.elapsed() >= Duration::from_millis(300));
        let w = ctl.api_workers().unwrap();
        let s = &w["stats"];
        assert_eq!(w["api_workers"]["workers"], 2);
        assert_eq!(s["served"], 6);
        assert_eq!(s["max_busy"], 2, "{w}");
        assert!(s["max_in_flight"].as_u64().unwrap() > 2, "{w}");
        assert!(s["waited"].as_u64().unwrap() >= 1, "{w}");
        assert!(w["mean_wait_seconds"].as_f64().unwrap() > 0.0, "{w}");
        assert_eq!(
            (s["busy"].as_u64(), s["queued"].as_u64()),
            (Some(0), Some(0))
        );
        // Back to unlimited: no wait, the counters reset.
        let w = http
            .delete(format!("{}/_sim/api-workers", cloud.url()))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap();
        assert_eq!(w["api_workers"]["workers"], 0);
        assert_eq!(w["stats"]["served"], 0);
        assert!(ctl.set_api_workers(0, 50).is_err());
        cloud.stop();
    }
}
