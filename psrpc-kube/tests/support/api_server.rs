//! A fake Kubernetes API server on loopback that speaks the real list/watch
//! JSON for EndpointSlices: lists with a resource version, watch streams of
//! newline-delimited events resumed from a resource version, watches that
//! break on command, `410 Gone` for versions older than a compaction, and
//! refusals as a real API server words them: `401` (`refuse(401)`: a stale
//! token) and `403` (`refuse(403)`: a Role without `list`/`watch`), or
//! passing `5xx` errors (`fail_next`), each with a Kubernetes `Status` body.
//! It is a fake, for what a real server does not do on demand (breaking
//! watches, compacting history, 5xx); `real_api_server` runs the real one.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

/// One watch event as the API server sends it.
#[derive(Clone, Debug)]
struct Logged {
    version: u64,
    service: String,
    line: Bytes,
}

#[derive(Default)]
struct State {
    version: u64,
    slices: BTreeMap<String, EndpointSlice>,
    log: Vec<Logged>,
    /// Watches from versions at or below this get `410 Gone`.
    compacted: u64,
    lists: usize,
    /// The `resourceVersion` of every watch request, in order.
    watches_from: Vec<u64>,
    /// Every distinct label selector asked for.
    selectors: Vec<String>,
    /// Answer every request with this refusal (401 or 403).
    refusing: Option<u16>,
    /// Answer this many requests with `failing.1` (a passing 5xx).
    failing: (usize, u16),
    /// Requests answered with an error status.
    errors: usize,
}

/// The fake server; dropping it stops serving.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Logged>,
    breaks: watch::Sender<u64>,
    requests: watch::Sender<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Logged>,
    breaks: watch::Receiver<u64>,
    requests: watch::Sender<usize>,
}

impl FakeApiServer {
    /// Serves on a free loopback port.
    pub async fn start() -> FakeApiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { version: 1, ..Default::default() }));
        let (events, _) = broadcast::channel(1024);
        let (breaks, breaks_rx) = watch::channel(0);
        let (requests, _) = watch::channel(0);
        let shared =
            Shared { state: state.clone(), events: events.clone(), breaks: breaks_rx, requests: requests.clone() };
        let app = axum::Router::new()
            .route("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", axum::routing::get(endpoint_slices))
            .with_state(shared);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeApiServer { addr, state, events, breaks, requests, task }
    }

    /// A kube client for this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// Creates or updates a slice (an `ADDED`/`MODIFIED` event).
    pub fn apply(&self, slice: EndpointSlice) {
        let name = slice.metadata.name.clone().unwrap();
        let kind = if self.state.lock().unwrap().slices.contains_key(&name) { "MODIFIED" } else { "ADDED" };
        self.record(kind, slice, false);
    }

    /// Deletes a slice (a `DELETED` event).
    pub fn delete(&self, name: &str) {
        let slice = self.state.lock().unwrap().slices.get(name).cloned().expect("deleting a known slice");
        self.record("DELETED", slice, true);
    }

    fn record(&self, kind: &str, mut slice: EndpointSlice, delete: bool) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        let version = state.version;
        slice.metadata.resource_version = Some(version.to_string());
        let name = slice.metadata.name.clone().unwrap();
        let line = json!({ "type": kind, "object": with_kind(&slice) }).to_string() + "\n";
        let logged = Logged { version, service: service_of(&slice), line: Bytes::from(line) };
        if delete {
            state.slices.remove(&name);
        } else {
            state.slices.insert(name, slice);
        }
        state.log.push(logged.clone());
        drop(state);
        let _ = self.events.send(logged);
    }

    /// Deletes a slice while no watcher is looking: the change is already
    /// compacted away, as if the client had been disconnected through it.
    pub fn delete_unseen(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        state.slices.remove(name).expect("deleting a known slice");
        state.version += 1;
        state.compacted = state.version;
        state.log.clear();
    }

    /// Ends every open watch stream (the client sees the connection's body end).
    pub fn break_watches(&self) {
        self.breaks.send_modify(|n| *n += 1);
    }

    /// Refuses every later request with `code`: 401 (`Unauthorized`) or
    /// 403 (`Forbidden`, naming the verb, resource and namespace).
    pub fn refuse(&self, code: u16) {
        self.state.lock().unwrap().refusing = Some(code);
    }

    /// Answers the next `n` requests with `code` (a 5xx the client should
    /// retry through).
    pub fn fail_next(&self, n: usize, code: u16) {
        self.state.lock().unwrap().failing = (n, code);
    }

    /// Number of requests answered with an error status so far.
    pub fn errors(&self) -> usize {
        self.state.lock().unwrap().errors
    }

    /// Number of list requests so far.
    pub fn lists(&self) -> usize {
        self.state.lock().unwrap().lists
    }

    /// The `resourceVersion` of every watch request so far.
    pub fn watches_from(&self) -> Vec<u64> {
        self.state.lock().unwrap().watches_from.clone()
    }

    /// Every distinct label selector clients asked for.
    pub fn label_selectors(&self) -> Vec<String> {
        self.state.lock().unwrap().selectors.clone()
    }

    /// The current resource version.
    pub fn version(&self) -> u64 {
        self.state.lock().unwrap().version
    }

    /// Waits until `n` list or watch requests have been served in all.
    pub async fn wait_for_requests(&self, n: usize) {
        self.requests.subscribe().wait_for(|seen| *seen >= n).await.unwrap();
    }
}

/// The `kubernetes.io/service-name` label of a slice.
fn service_of(slice: &EndpointSlice) -> String {
    slice.metadata.labels.as_ref().and_then(|l| l.get("kubernetes.io/service-name")).cloned().unwrap_or_default()
}

/// The service a `kubernetes.io/service-name=<svc>` selector asks for.
fn selected_service(uri: &Uri) -> Option<String> {
    let selector = query_param(uri, "labelSelector")?.replace("%2F", "/").replace("%3D", "=");
    selector.strip_prefix("kubernetes.io/service-name=").map(str::to_owned)
}

fn with_kind(slice: &EndpointSlice) -> serde_json::Value {
    let mut value = serde_json::to_value(slice).unwrap();
    value["apiVersion"] = json!("discovery.k8s.io/v1");
    value["kind"] = json!("EndpointSlice");
    value
}

fn query_param<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// The `Status` a real API server sends with `code` for `verb` on
/// endpointslices in `namespace`.
fn status(code: u16, verb: &str, namespace: &str) -> Response {
    let (reason, message) = match code {
        401 => ("Unauthorized", "Unauthorized".to_owned()),
        403 => (
            "Forbidden",
            format!(
                "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:{namespace}:chat\" \
                 cannot {verb} resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"{namespace}\""
            ),
        ),
        _ => ("InternalError", "etcdserver: request timed out".to_owned()),
    };
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if code == 403 {
        body["details"] = json!({ "group": "discovery.k8s.io", "kind": "endpointslices" });
    }
    let code = StatusCode::from_u16(code).unwrap();
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn endpoint_slices(
    axum::extract::State(shared): axum::extract::State<Shared>,
    axum::extract::Path(namespace): axum::extract::Path<String>,
    uri: Uri,
) -> Response {
    let watching = query_param(&uri, "watch") == Some("true");
    let refused = {
        let mut state = shared.state.lock().unwrap();
        let code = match (state.refusing, state.failing) {
            (Some(code), _) => Some(code),
            (None, (n, code)) if n > 0 => {
                state.failing.0 -= 1;
                Some(code)
            }
            _ => None,
        };
        state.errors += usize::from(code.is_some());
        code
    };
    if let Some(code) = refused {
        shared.requests.send_modify(|n| *n += 1);
        return status(code, if watching { "watch" } else { "list" }, &namespace);
    }
    let Some(service) = selected_service(&uri) else {
        return (StatusCode::BAD_REQUEST, "this fake serves only service-name selectors").into_response();
    };
    {
        let mut state = shared.state.lock().unwrap();
        let selector = format!("kubernetes.io/service-name={service}");
        if !state.selectors.contains(&selector) {
            state.selectors.push(selector);
        }
    }
    let response = if watching {
        let from = query_param(&uri, "resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        watch(&shared, &service, from)
    } else {
        list(&shared, &service)
    };
    shared.requests.send_modify(|n| *n += 1);
    response
}

fn list(shared: &Shared, service: &str) -> Response {
    let mut state = shared.state.lock().unwrap();
    state.lists += 1;
    let items: Vec<_> = state.slices.values().filter(|s| service_of(s) == service).map(with_kind).collect();
    let body = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSliceList",
        "metadata": { "resourceVersion": state.version.to_string() },
        "items": items,
    });
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

fn watch(shared: &Shared, service: &str, from: u64) -> Response {
    let mut state = shared.state.lock().unwrap();
    state.watches_from.push(from);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    if from < state.compacted {
        let gone = json!({
            "type": "ERROR",
            "object": { "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired",
                        "message": format!("too old resource version: {from} ({})", state.compacted), "code": 410 }
        });
        let _ = tx.try_send(Bytes::from(gone.to_string() + "\n"));
    } else {
        let backlog: Vec<Logged> =
            state.log.iter().filter(|e| e.version > from && e.service == service).cloned().collect();
        let service = service.to_owned();
        let mut live = shared.events.subscribe();
        let mut breaks = shared.breaks.clone();
        breaks.borrow_and_update();
        tokio::spawn(async move {
            let mut sent = from;
            for event in backlog {
                sent = event.version;
                if tx.send(event.line).await.is_err() {
                    return;
                }
            }
            loop {
                tokio::select! {
                    _ = breaks.changed() => return,
                    event = live.recv() => match event {
                        Ok(event) if event.version > sent && event.service == service => {
                            sent = event.version;
                            if tx.send(event.line).await.is_err() { return; }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    },
                }
            }
        });
    }
    drop(state);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    (StatusCode::OK, [("content-type", "application/json")], Body::from_stream(body)).into_response()
}
