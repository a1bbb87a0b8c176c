//! `psrpc tap SERVICE[.METHOD]`: an operator's live view of a service's
//! calls, without taking part.
//!
//! The tap subscribes with [`MessageBus::tap`](psrpc::MessageBus::tap):
//! plain subscriptions only (no NATS queue group, no Redis queue lock), so
//! the service loses nothing while it is tapped. Each frame becomes one
//! line (one JSON object with `--json`): requests, claims, claim
//! responses, responses (errors with their code), stream frames and
//! publications, with the method, the ids the envelope carries, and the
//! payload decoded with the `.proto` when one is given (else its size).
//!
//! Decisions:
//! - **Latency** is the time since the tap first saw the request id (the
//!   request itself, unless the bus showed another frame of the call
//!   first), on the tap's own clock, so no clock of another machine is
//!   involved. The request itself has none. Ids are remembered for
//!   [`REMEMBER_FOR`] and at most [`REMEMBER_AT_MOST`] at once; a response
//!   to a forgotten (or never seen) request has no latency.
//! - **Order** is the order in which the bus delivered the frames to the
//!   tap: the order they were published on Redis and in process; on NATS a
//!   call's request comes before its claims and responses, the rest may
//!   swap places (see the NATS bus's tap).
//! - **`size`** (JSON) is the payload's size, or the whole frame's for
//!   frames without a payload (claims, errors, acks).
//! - **Methods** of frames on client channels (responses, claims, the
//!   client end of streams), which name no method, come from the request
//!   (or stream) id the tap saw before; such a frame for an unseen id shows
//!   the service alone, and a METHOD filter leaves it out.
//! - **Times** are UTC, to the millisecond.
//! - A tap that does not keep up loses frames, and says so on stderr; the
//!   service is not slowed down.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Args;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use psrpc::BusErrorKind;
use psrpc::transport::tap::{PayloadType, TapEvent, TapKind};
use serde_json::{Map, Value, json};

use crate::args::ProtoArgs;
use crate::bus::Connection;
use crate::exit::Failure;
use crate::{Settings, proto};

/// How long the tap remembers a request, for latencies and methods.
const REMEMBER_FOR: Duration = Duration::from_secs(60);
/// How many requests the tap remembers at most.
const REMEMBER_AT_MOST: usize = 100_000;
/// Frames the tap buffers before it loses some.
const TAP_CAPACITY: usize = 4096;

/// The arguments of `psrpc tap`.
#[derive(Debug, Args)]
pub(crate) struct TapArgs {
    /// SERVICE, or SERVICE.METHOD for one method's calls only.
    target: String,
    /// The .proto file declaring the service: payloads are shown as JSON (else their size).
    #[arg(long)]
    proto: Option<PathBuf>,
    /// Directories to resolve imports in (default: the .proto file's directory).
    #[arg(long = "include", short = 'I')]
    includes: Vec<PathBuf>,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<usize>,
}

/// Taps the service and prints its events until `--count` or the tap ends.
pub(crate) async fn run(connection: &Connection, args: TapArgs, settings: &Settings) -> Result<(), Failure> {
    let (service, only) = crate::describe::split(&args.target);
    let types = match &args.proto {
        Some(file) => Some(Types::load(file, &args.includes, service, only)?),
        None => None,
    };
    let mut tap = connection.get().await?.tap(service, TAP_CAPACITY).await.map_err(|e| match e.kind() {
        BusErrorKind::Unsupported => Failure::usage(format!("cannot tap {service} on this bus: {e}")),
        _ => Failure::unavailable(format!("cannot tap {service}: {e}")),
    })?;
    eprintln!("psrpc: tapping {}", args.target);
    let mut calls = Calls::default();
    let mut printed = 0;
    while args.count.is_none_or(|count| printed < count) {
        let tapped = match tap.recv().await {
            Some(Ok(tapped)) => tapped,
            Some(Err(lost)) => {
                eprintln!("psrpc: the tap fell behind: {lost}");
                continue;
            }
            None => return Err(Failure::unavailable("the tap ended: the connection to the bus was lost")),
        };
        let event = TapEvent::decode(service, &tapped);
        let seen = calls.see(&event, Instant::now());
        if only.is_some_and(|only| seen.method.as_deref() != Some(only)) {
            continue;
        }
        let line = Line { service, event: &event, seen, types: types.as_ref() };
        settings.out.either(|| line.json(), || line.human())?;
        printed += 1;
    }
    Ok(())
}

/// The method's request and response types, by method name.
#[derive(Debug)]
struct Types(HashMap<String, (MessageDescriptor, MessageDescriptor)>);

impl Types {
    /// The types of `service`'s methods in `file`; `only` must be one of them.
    fn load(file: &std::path::Path, includes: &[PathBuf], service: &str, only: Option<&str>) -> Result<Self, Failure> {
        let found = proto::load_service(service, &ProtoArgs { proto: file.to_owned(), includes: includes.to_vec() })?;
        let types: HashMap<_, _> = found.methods().map(|m| (m.name().to_owned(), (m.input(), m.output()))).collect();
        if let Some(method) = only.filter(|m| !types.contains_key(*m)) {
            let mut names: Vec<&str> = types.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(Failure::unknown(format!(
                "service {service} has no method {method} (methods: {})",
                crate::list(&names)
            )));
        }
        Ok(Types(types))
    }

    /// The payload as JSON, if its method is known and it decodes.
    fn decode(&self, method: &str, of: PayloadType, payload: &Bytes) -> Option<Value> {
        let (input, output) = self.0.get(method)?;
        let descriptor = if of == PayloadType::Input { input } else { output };
        let message = DynamicMessage::decode(descriptor.clone(), payload.clone()).ok()?;
        serde_json::to_value(&message).ok()
    }
}

/// What the tap remembers of one request or stream.
#[derive(Debug)]
struct Call {
    method: Option<String>,
    at: Instant,
}

/// The requests and streams the tap saw lately, by request and stream id
/// (bounded: see [`REMEMBER_FOR`] and [`REMEMBER_AT_MOST`]).
#[derive(Debug, Default)]
struct Calls {
    by_id: HashMap<String, Call>,
    /// Ids in the order they were remembered, to forget the oldest.
    order: VecDeque<(Instant, String)>,
}

/// What the tap knows of an event beyond the frame itself.
#[derive(Debug)]
struct Seen {
    method: Option<String>,
    latency: Option<Duration>,
}

impl Calls {
    /// Remembers the request and stream ids of `event` first seen, and
    /// tells its method and latency.
    fn see(&mut self, event: &TapEvent, now: Instant) -> Seen {
        self.forget_old(now);
        let earlier = [&event.request_id, &event.stream_id].into_iter().find_map(|id| self.by_id.get(id));
        let method = event.method.clone().or_else(|| earlier.and_then(|call| call.method.clone()));
        let latency = match event.kind {
            TapKind::Request => None,
            _ => self.by_id.get(&event.request_id).map(|call| now.duration_since(call.at)),
        };
        for id in [&event.request_id, &event.stream_id] {
            if !id.is_empty() && !self.by_id.contains_key(id) {
                self.by_id.insert(id.clone(), Call { method: method.clone(), at: now });
                self.order.push_back((now, id.clone()));
            }
        }
        Seen { method, latency }
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some((at, id)) = self.order.front() {
            if now.duration_since(*at) < REMEMBER_FOR && self.order.len() < REMEMBER_AT_MOST {
                break;
            }
            self.by_id.remove(id);
            self.order.pop_front();
        }
    }
}

/// One event, ready to print.
struct Line<'a> {
    service: &'a str,
    event: &'a TapEvent,
    seen: Seen,
    types: Option<&'a Types>,
}

impl Line<'_> {
    fn json(&self) -> Value {
        let event = self.event;
        let mut out = Map::new();
        out.insert("kind".into(), event.kind.as_str().into());
        if let TapKind::Stream(frame) = event.kind {
            out.insert("stream".into(), frame.as_str().into());
        }
        out.insert("service".into(), self.service.into());
        if let Some(method) = &self.seen.method {
            out.insert("method".into(), method.as_str().into());
        }
        out.insert("channel".into(), (*event.channel).into());
        for (key, id) in [
            ("request_id", &event.request_id),
            ("client_id", &event.client_id),
            ("server_id", &event.server_id),
            ("stream_id", &event.stream_id),
        ] {
            if !id.is_empty() {
                out.insert(key.into(), id.as_str().into());
            }
        }
        if let Some(latency) = self.seen.latency {
            out.insert("latency_us".into(), u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).into());
        }
        if let Some((code, message)) = &event.error {
            out.insert("error".into(), json!({ "code": code, "message": message }));
        }
        match (&event.payload, self.message()) {
            (_, Some(message)) => _ = out.insert("message".into(), message),
            (Some((_, payload)), None) => _ = out.insert("size".into(), payload.len().into()),
            (None, None) => _ = out.insert("size".into(), event.size.into()),
        }
        Value::Object(out)
    }

    fn human(&self) -> String {
        let event = self.event;
        let time = time_of_day(SystemTime::now());
        if event.kind == TapKind::Undecodable {
            return format!("{time}  undecodable frame on {} ({} bytes)", event.channel, event.size);
        }
        let kind = match event.kind {
            TapKind::Stream(frame) => format!("stream:{}", frame.as_str()),
            kind => kind.as_str().to_owned(),
        };
        let mut line = format!("{time}  {kind:<14}  {}", self.service);
        if let Some(method) = &self.seen.method {
            line.push('.');
            line.push_str(method);
        }
        for (key, id) in [
            ("req", &event.request_id),
            ("client", &event.client_id),
            ("server", &event.server_id),
            ("stream", &event.stream_id),
        ] {
            if !id.is_empty() {
                line.push_str(&format!("  {key}={id}"));
            }
        }
        if let Some(latency) = self.seen.latency {
            line.push_str(&format!("  {:.1}ms", latency.as_secs_f64() * 1000.0));
        }
        if let Some((code, message)) = &event.error {
            line.push_str(&format!("  error {code}: {message}"));
        }
        match (&event.payload, self.message()) {
            (_, Some(message)) => line.push_str(&format!("  {message}")),
            (Some((_, payload)), None) => line.push_str(&format!("  ({} bytes)", payload.len())),
            (None, None) => {}
        }
        line
    }

    /// The payload as JSON, when the `.proto` tells its type.
    fn message(&self) -> Option<Value> {
        let (of, payload) = self.event.payload.as_ref()?;
        self.types?.decode(self.seen.method.as_deref()?, *of, payload)
    }
}

/// `HH:MM:SS.mmm`, UTC.
fn time_of_day(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", seconds / 3600, seconds / 60 % 60, seconds % 60, since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrpc::transport::tap::TapFrame;

    fn event(kind: TapKind, method: Option<&str>, request_id: &str) -> TapEvent {
        let mut event = TapEvent::decode("Svc", &TapFrame { channel: "Svc|M|REQ".into(), frame: Bytes::new() });
        event.kind = kind;
        event.method = method.map(str::to_owned);
        event.request_id = request_id.to_owned();
        event
    }

    #[test]
    fn responses_take_method_and_latency_from_their_request() {
        let mut calls = Calls::default();
        let start = Instant::now();
        let request = calls.see(&event(TapKind::Request, Some("Echo"), "REQ_1"), start);
        assert_eq!((request.method.as_deref(), request.latency), (Some("Echo"), None));
        let later = start + Duration::from_millis(5);
        let response = calls.see(&event(TapKind::Response, None, "REQ_1"), later);
        assert_eq!((response.method.as_deref(), response.latency), (Some("Echo"), Some(Duration::from_millis(5))));
        let unknown = calls.see(&event(TapKind::Response, None, "REQ_2"), later);
        assert_eq!((unknown.method, unknown.latency), (None, None));
    }

    #[test]
    fn requests_are_forgotten_after_a_while() {
        let mut calls = Calls::default();
        let start = Instant::now();
        calls.see(&event(TapKind::Request, Some("Echo"), "REQ_1"), start);
        calls.see(&event(TapKind::Request, Some("Echo"), "REQ_2"), start + REMEMBER_FOR / 2);
        let response = calls.see(&event(TapKind::Response, None, "REQ_1"), start + REMEMBER_FOR);
        assert_eq!((response.method, response.latency), (None, None), "REQ_1 was forgotten");
        assert_eq!(calls.order.len(), 2, "REQ_2, and REQ_1 seen anew");
        assert_eq!(calls.by_id.len(), 2);
    }

    #[test]
    fn times_of_day_are_utc_to_the_millisecond() {
        let at = UNIX_EPOCH + Duration::from_millis(86_400_000 + 3_723_045);
        assert_eq!(time_of_day(at), "01:02:03.045");
    }
}
