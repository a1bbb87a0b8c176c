//! The broker's own limit: the raw round trip over hand-written protocol
//! lines on plain sockets, with no client library at all (`--raw-wire`).
//!
//! The library round trip (`raw`) goes through async-nats or redis-rs, whose
//! connection tasks each publish and each delivery cross. This one reads and
//! writes the socket on the tasks that produce and consume the messages: the
//! server's reader parses a batch of requests and writes their replies in one
//! system call; a caller writes its request itself unless another caller is
//! already writing (then that one takes it along); the client's reader wakes
//! the caller whose reply arrived. It is the least a bus client on tokio can
//! cost per message on this machine: what psrpc would reach with a protocol
//! client of its own. NATS speaks its text protocol; Redis speaks RESP3, where
//! one connection both subscribes and publishes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

use crate::raw::RawCall;

const REQUESTS: &str = "psrpc.bench.wire";
const REPLIES: &str = "psrpc.bench.wire.rep";

/// How long a caller waits for its echo before the call counts as an error
/// (a broker or server that stopped answering ends the run instead of
/// hanging it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker's protocol.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Protocol {
    /// The NATS client protocol.
    Nats,
    /// RESP3 (`HELLO 3`): pushes and replies share the connection.
    Resp3,
}

/// What the reader found in the received bytes.
#[derive(Debug, PartialEq)]
enum Event {
    /// A message's payload.
    Message(Bytes),
    /// The server asks for a `PONG` (NATS).
    Ping,
    /// The subscription is in place (NATS: the `PONG` after `SUB`; RESP3:
    /// the `subscribe` push).
    Ready,
    /// Anything else (`INFO`, `+OK`, `HELLO`'s map, `PUBLISH`'s count).
    Other,
}

impl Protocol {
    /// Connection setup, subscription to `subject`, and the request that
    /// makes the server confirm it.
    fn open(self, subject: &str) -> Vec<u8> {
        match self {
            Protocol::Nats => format!(
                "CONNECT {{\"verbose\":false,\"pedantic\":false,\"protocol\":1}}\r\nSUB {subject} 1\r\nPING\r\n"
            )
            .into_bytes(),
            Protocol::Resp3 => {
                let mut out = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n".to_vec();
                out.extend_from_slice(
                    format!("*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{subject}\r\n", subject.len()).as_bytes(),
                );
                out
            }
        }
    }

    /// Appends a publish of `payload` to `subject` (written in place: no
    /// allocation per message).
    fn publish(self, out: &mut BytesMut, subject: &str, payload: &[u8]) {
        // Writing to a BytesMut cannot fail.
        let _ = match self {
            Protocol::Nats => write!(out, "PUB {subject} {}\r\n", payload.len()),
            Protocol::Resp3 => {
                write!(out, "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{subject}\r\n${}\r\n", subject.len(), payload.len())
            }
        };
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
    }

    /// Takes the next whole event off `buf`; `None` until one is complete.
    fn next_event(self, buf: &mut BytesMut) -> anyhow::Result<Option<Event>> {
        let parsed = match self {
            Protocol::Nats => nats_event(buf)?,
            Protocol::Resp3 => resp3_event(buf)?,
        };
        Ok(parsed.map(|(event, consumed)| {
            let taken = buf.split_to(consumed).freeze();
            match event {
                Parsed::Payload(start, end) => Event::Message(taken.slice(start..end)),
                Parsed::Ping => Event::Ping,
                Parsed::Ready => Event::Ready,
                Parsed::Other => Event::Other,
            }
        }))
    }
}

/// An event found at the start of a buffer, payload as a byte range.
enum Parsed {
    Payload(usize, usize),
    Ping,
    Ready,
    Other,
}

/// The line starting at `at`, and where the next one starts.
fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[at..end], end + 2))
}

fn number(text: &[u8]) -> anyhow::Result<i64> {
    std::str::from_utf8(text)?.trim().parse().with_context(|| format!("bad length {text:?}"))
}

fn nats_event(buf: &[u8]) -> anyhow::Result<Option<(Parsed, usize)>> {
    let Some((head, body)) = line(buf, 0) else { return Ok(None) };
    if let Some(args) = head.strip_prefix(b"MSG ") {
        let size = usize::try_from(number(args.rsplit(|b| *b == b' ').next().unwrap_or_default())?)?;
        let end = body.checked_add(size).context("oversized message")?;
        if buf.len() < end.saturating_add(2) {
            return Ok(None);
        }
        return Ok(Some((Parsed::Payload(body, end), end + 2)));
    }
    if head.starts_with(b"-ERR") {
        bail!("nats-server: {}", String::from_utf8_lossy(head));
    }
    let event = match head {
        b"PING" => Parsed::Ping,
        b"PONG" => Parsed::Ready,
        _ => Parsed::Other,
    };
    Ok(Some((event, body)))
}

fn resp3_event(buf: &[u8]) -> anyhow::Result<Option<(Parsed, usize)>> {
    match buf.first() {
        None => Ok(None),
        Some(b'-') => bail!("redis: {}", String::from_utf8_lossy(line(buf, 0).map_or(buf, |(l, _)| l))),
        Some(b'>') => {
            let Some((count, mut at)) = line(buf, 1) else { return Ok(None) };
            // The push's first element (its kind) and third (a message's payload).
            let (mut kind, mut payload) = (None, None);
            for element in 0..number(count)? {
                let Some(end) = resp3_end(buf, at)? else { return Ok(None) };
                // A bulk string's bytes; nothing for other kinds of element.
                let data = line(buf, at).map(|(_, data)| data..end - 2).filter(|range| range.start <= range.end);
                match element {
                    0 => kind = data.map(|range| &buf[range]),
                    2 => payload = data,
                    _ => {}
                }
                at = end;
            }
            let event = match (kind, payload) {
                (Some(b"message"), Some(payload)) => Parsed::Payload(payload.start, payload.end),
                (Some(b"subscribe"), _) => Parsed::Ready,
                _ => Parsed::Other,
            };
            Ok(Some((event, at)))
        }
        Some(_) => Ok(resp3_end(buf, 0)?.map(|end| (Parsed::Other, end))),
    }
}

/// Where the RESP3 value starting at `at` ends; `None` if it is incomplete.
fn resp3_end(buf: &[u8], at: usize) -> anyhow::Result<Option<usize>> {
    let Some(&kind) = buf.get(at) else { return Ok(None) };
    let Some((head, mut next)) = line(buf, at + 1) else { return Ok(None) };
    let elements = match kind {
        b'$' | b'=' | b'!' => {
            let size = number(head)?;
            // A negative size is a null; the rest is the data and its CRLF.
            let end = match usize::try_from(size) {
                Ok(size) => next.saturating_add(size).saturating_add(2),
                Err(_) => next,
            };
            return Ok((buf.len() >= end).then_some(end));
        }
        b'*' | b'~' | b'>' => number(head)?.max(0),
        b'%' | b'|' => number(head)?.max(0) * 2,
        _ => 0,
    };
    for _ in 0..elements {
        let Some(end) = resp3_end(buf, next)? else { return Ok(None) };
        next = end;
    }
    Ok(Some(next))
}

/// Connects to `url` (no credentials), subscribes to `subject`, and returns
/// once the server confirmed the subscription.
async fn open(
    protocol: Protocol,
    url: &str,
    subject: &str,
) -> anyhow::Result<(OwnedReadHalf, OwnedWriteHalf, BytesMut)> {
    let address = url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/');
    if address.contains('@') || address.contains(',') {
        bail!("--raw-wire needs one broker URL without credentials, got {url}");
    }
    let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(&protocol.open(subject)).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some(event) = protocol.next_event(&mut buf)? {
            if event == Event::Ready {
                return Ok((reader, writer, buf));
            }
        }
        if reader.read_buf(&mut buf).await? == 0 {
            bail!("{address} closed the connection during setup");
        }
    }
}

/// A connection's writing side shared by callers: a caller that finds nobody
/// writing writes what is pending itself, in a loop until nothing is;
/// callers that arrive meanwhile only append.
struct Writer {
    pending: parking_lot::Mutex<(BytesMut, bool)>,
    socket: tokio::sync::Mutex<OwnedWriteHalf>,
}

impl Writer {
    async fn send(&self, append: impl FnOnce(&mut BytesMut)) -> std::io::Result<()> {
        {
            let mut pending = self.pending.lock();
            append(&mut pending.0);
            if pending.1 {
                return Ok(());
            }
            pending.1 = true;
        }
        let mut socket = self.socket.lock().await;
        loop {
            let chunk = {
                let mut pending = self.pending.lock();
                if pending.0.is_empty() {
                    pending.1 = false;
                    return Ok(());
                }
                pending.0.split()
            };
            if let Err(e) = socket.write_all(&chunk).await {
                self.pending.lock().1 = false;
                return Err(e);
            }
        }
    }
}

/// The round trip: the server (connected to `urls.0`) echoes every request
/// to the reply subject; the caller (on its own connection to `urls.1`) is
/// woken when the echo, which starts with its worker number, comes back.
pub(crate) async fn round_trip(
    protocol: Protocol,
    urls: (&str, &str),
    payload: Bytes,
    concurrency: usize,
) -> anyhow::Result<RawCall> {
    let (mut server_reader, mut server_writer, mut server_buf) = open(protocol, urls.0, REQUESTS).await?;
    tokio::spawn(async move {
        let mut out = BytesMut::with_capacity(64 * 1024);
        // Ends at the first error, end of stream or broker error line.
        while let Ok(next) = protocol.next_event(&mut server_buf) {
            match next {
                Some(Event::Message(request)) => protocol.publish(&mut out, REPLIES, &request),
                Some(Event::Ping) => out.extend_from_slice(b"PONG\r\n"),
                Some(Event::Ready | Event::Other) => {}
                None => {
                    if !out.is_empty() && server_writer.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                    if !matches!(server_reader.read_buf(&mut server_buf).await, Ok(1..)) {
                        return;
                    }
                }
            }
        }
    });

    let (mut client_reader, client_writer, mut client_buf) = open(protocol, urls.1, REPLIES).await?;
    let writer = Arc::new(Writer { pending: Default::default(), socket: tokio::sync::Mutex::new(client_writer) });
    let woken: Arc<Vec<Notify>> = Arc::new((0..concurrency).map(|_| Notify::new()).collect());
    let closed = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let (writer, woken, closed) = (Arc::clone(&writer), Arc::clone(&woken), Arc::clone(&closed));
        async move {
            while let Ok(next) = protocol.next_event(&mut client_buf) {
                match next {
                    Some(Event::Message(mut reply)) if reply.len() >= 4 => {
                        if let Some(caller) = woken.get(reply.get_u32_le() as usize) {
                            caller.notify_one();
                        }
                    }
                    Some(Event::Ping) => {
                        let _ = writer.send(|out| out.extend_from_slice(b"PONG\r\n")).await;
                    }
                    Some(_) => {}
                    None => {
                        if !matches!(client_reader.read_buf(&mut client_buf).await, Ok(1..)) {
                            break;
                        }
                    }
                }
            }
            // No more replies: every waiting caller fails instead of hanging.
            closed.store(true, Ordering::Release);
            woken.iter().for_each(Notify::notify_one);
        }
    });
    let requests: Arc<Vec<Bytes>> = Arc::new(
        (0..concurrency as u32).map(|worker| [worker.to_le_bytes().as_slice(), &payload].concat().into()).collect(),
    );
    Ok(Arc::new(move |worker| {
        let (writer, woken, requests, closed) =
            (Arc::clone(&writer), Arc::clone(&woken), Arc::clone(&requests), Arc::clone(&closed));
        Box::pin(async move {
            writer.send(|out| protocol.publish(out, REQUESTS, &requests[worker])).await.map_err(|e| e.to_string())?;
            let replied = tokio::time::timeout(REPLY_TIMEOUT, woken[worker].notified()).await;
            match (replied, closed.load(Ordering::Acquire)) {
                (_, true) => Err("the reply connection closed".to_owned()),
                (Err(_), false) => Err(format!("no reply within {REPLY_TIMEOUT:?}")),
                (Ok(()), false) => Ok(()),
            }
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(protocol: Protocol, bytes: &[u8]) -> Vec<Event> {
        let mut buf = BytesMut::from(bytes);
        std::iter::from_fn(|| protocol.next_event(&mut buf).unwrap()).collect()
    }

    #[test]
    fn nats_messages_pings_and_pongs_are_told_apart_and_partial_messages_wait() {
        let stream = b"INFO {}\r\nPONG\r\nMSG a.b 1 5\r\nhello\r\nPING\r\nMSG a.b 1 _INBOX.x 3\r\nab";
        assert_eq!(
            events(Protocol::Nats, stream),
            [Event::Other, Event::Ready, Event::Message(Bytes::from_static(b"hello")), Event::Ping]
        );
    }

    #[test]
    fn resp3_pushes_carry_payloads_and_other_replies_are_skipped() {
        let stream = b"%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n:2\r\n\
>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\nbody\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\nbo";
        assert_eq!(
            events(Protocol::Resp3, stream),
            [Event::Other, Event::Ready, Event::Other, Event::Message(Bytes::from_static(b"body"))]
        );
    }

    /// Reads from `conn` until `pattern` arrived.
    async fn read_until(conn: &mut TcpStream, pattern: &[u8]) {
        let mut seen = Vec::new();
        while !seen.windows(pattern.len()).any(|w| w == pattern) {
            let mut chunk = [0u8; 256];
            let n = conn.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before {pattern:?}");
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn calls_fail_instead_of_hanging_when_the_broker_goes_away() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("nats://{}", listener.local_addr().expect("address"));
        // A broker that confirms both subscriptions, takes one request and closes.
        let broker = tokio::spawn(async move {
            let mut connections = Vec::new();
            for _ in 0..2 {
                let (mut conn, _) = listener.accept().await.expect("accept");
                conn.write_all(b"INFO {}\r\n").await.expect("info");
                read_until(&mut conn, b"PING\r\n").await;
                conn.write_all(b"PONG\r\n").await.expect("pong");
                connections.push(conn);
            }
            read_until(&mut connections[1], b"PUB psrpc.bench.wire ").await;
        });
        let call = round_trip(Protocol::Nats, (&url, &url), Bytes::from_static(b"x"), 1).await.expect("set up");
        let failed = call(0).await.expect_err("no reply can come");
        assert!(failed.contains("closed"), "{failed}");
        broker.await.expect("the broker saw the request");
    }

    #[test]
    fn pushes_of_other_shapes_are_skipped_without_panicking() {
        let stream = b">2\r\n:5\r\n:6\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n:7\r\n";
        assert_eq!(events(Protocol::Resp3, stream), [Event::Other, Event::Other]);
    }

    #[test]
    fn broker_errors_end_the_round_trip() {
        assert!(Protocol::Nats.next_event(&mut BytesMut::from(&b"-ERR 'Authorization Violation'\r\n"[..])).is_err());
        assert!(Protocol::Resp3.next_event(&mut BytesMut::from(&b"-NOAUTH needed\r\n"[..])).is_err());
        assert!(Protocol::Nats.next_event(&mut BytesMut::from(&b"MSG a 1 -1\r\n"[..])).is_err());
    }
}
