//! What workers report: one JSON object per line on standard output, each
//! stamped with the worker's wall clock (`t`, milliseconds since the Unix
//! epoch; every process of a run shares the machine's clock, so the
//! orchestrator can lay events and faults on one time line).
//!
//! Workers write through an [`Emitter`]: a thread of its own writes the
//! lines, so a slow reader never blocks the worker's runtime. A worker
//! killed with `SIGKILL` loses the lines it had not written yet; the
//! invariants account for that (see `invariants`).

use std::io::Write as _;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::worker::memory::Memory;

/// The RPC kinds a client calls in its loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallKind {
    /// A queue method (claimed by one server).
    Single,
    /// An affinity method.
    Affinity,
    /// A multi method (every server answers).
    Multi,
    /// A queue method on a topic.
    Topic,
    /// A single-server topic method.
    SingleServer,
    /// A stream exchange: open, messages each echoed, close.
    Stream,
}

impl CallKind {
    /// Every call kind.
    pub(crate) const ALL: [CallKind; 6] = [
        CallKind::Single,
        CallKind::Affinity,
        CallKind::Multi,
        CallKind::Topic,
        CallKind::SingleServer,
        CallKind::Stream,
    ];

    /// Whether one server handles each request (so handling it twice is a
    /// duplicate).
    pub(crate) fn handled_once(self) -> bool {
        !matches!(self, CallKind::Multi | CallKind::Stream)
    }
}

/// The subscription kinds a client receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SubKind {
    /// A queue subscription: each message to one subscriber.
    Queue,
    /// A broadcast subscription: each message to every subscriber.
    Broadcast,
}

impl SubKind {
    /// Both subscription kinds.
    pub(crate) const ALL: [SubKind; 2] = [SubKind::Queue, SubKind::Broadcast];
}

/// What a worker reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The worker is connected and serving (server) or subscribed and
    /// about to call (client).
    Ready,
    /// (client) A call ended. `code` is `None` on success, else the error
    /// code. `elapsed_ms` is measured with the monotonic clock; `over_ms`
    /// is how far past its deadline the call (for a stream exchange: its
    /// latest operation) ended, 0 if it ended in time.
    Call {
        /// The call's kind.
        kind: CallKind,
        /// The request (or exchange) id.
        id: String,
        /// How long the call took.
        elapsed_ms: u64,
        /// How far past its deadline it ended.
        over_ms: u64,
        /// The error code, if it failed.
        code: Option<String>,
        /// The error message, if it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// (server) A request was handled by this server.
    Handled {
        /// The method's kind.
        kind: CallKind,
        /// The request id.
        id: String,
    },
    /// (client) A stream was opened.
    StreamOpened {
        /// The wire stream id.
        stream: String,
    },
    /// (client) A stream message's `send` returned `Ok` (the server acknowledged it).
    StreamSent {
        /// The wire stream id.
        stream: String,
        /// The message's sequence number.
        seq: u32,
    },
    /// (server) A stream handler started.
    StreamAccepted {
        /// The wire stream id.
        stream: String,
    },
    /// (server) A stream handler received a message.
    StreamReceived {
        /// The wire stream id.
        stream: String,
        /// The message's sequence number.
        seq: u32,
    },
    /// (server) A subscription message was published (`publish` returned `Ok`).
    Published {
        /// The subscription.
        kind: SubKind,
        /// The message id.
        id: String,
        /// When the publish started.
        published_ms: u64,
    },
    /// (client) A subscription is active.
    Subscribed {
        /// The subscription.
        kind: SubKind,
    },
    /// (client) A subscription message arrived.
    Received {
        /// The subscription.
        kind: SubKind,
        /// The message id.
        id: String,
    },
    /// (server) How many handlers run now (`RpcServer::in_flight`), every 500 ms.
    InFlight {
        /// The count.
        n: usize,
    },
    /// (server) `shutdown` returned after `SIGTERM`.
    Drained,
    /// The worker's memory, measured when the orchestrator asked (`SIGUSR1`).
    Memory(Memory),
}

/// One line of a worker's output: the event and when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Line {
    /// When, in milliseconds since the Unix epoch.
    pub(crate) t: u64,
    /// What.
    #[serde(flatten)]
    pub(crate) event: Event,
}

impl Line {
    /// Parses one line of a worker's output; `None` for anything else
    /// (a worker's logs, say).
    pub(crate) fn parse(text: &str) -> Option<Line> {
        serde_json::from_str(text).ok()
    }
}

/// An event as the orchestrator keeps it: which worker said it, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Record {
    /// The worker's id (`s0.1`, `c2.3`: role, slot, generation).
    pub(crate) worker: String,
    /// When, in milliseconds since the Unix epoch.
    pub(crate) t: u64,
    /// What.
    #[serde(flatten)]
    pub(crate) event: Event,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What the writer thread is asked to do.
#[derive(Debug)]
enum Write {
    /// Print a line.
    Line(Line),
    /// Flush, then answer.
    Flush(mpsc::Sender<()>),
}

/// Where a worker's events go: a writer thread that prints each as one JSON
/// line on standard output, flushing whenever it has nothing more to write.
#[derive(Clone, Debug)]
pub(crate) struct Emitter(mpsc::Sender<Write>);

impl Emitter {
    /// Starts the writer thread.
    pub(crate) fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Write>();
        std::thread::spawn(move || {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            while let Ok(first) = rx.recv() {
                let mut next = Some(first);
                while let Some(write) = next {
                    match write {
                        Write::Line(line) => {
                            if serde_json::to_writer(&mut out, &line).is_err() || out.write_all(b"\n").is_err() {
                                return;
                            }
                        }
                        Write::Flush(done) => {
                            let _ = out.flush();
                            let _ = done.send(());
                        }
                    }
                    next = rx.try_recv().ok();
                }
                if out.flush().is_err() {
                    return;
                }
            }
        });
        Emitter(tx)
    }

    /// Reports `event`, stamped now.
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.0.send(Write::Line(Line { t: now_ms(), event }));
    }

    /// Waits until every event reported so far is written (before the
    /// worker exits).
    pub(crate) fn flush(&self) {
        let (done, written) = mpsc::channel();
        if self.0.send(Write::Flush(done)).is_ok() {
            let _ = written.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_as_flat_json() {
        let line = Line {
            t: 7,
            event: Event::Call {
                kind: CallKind::SingleServer,
                id: "c0.1-3".into(),
                elapsed_ms: 4,
                over_ms: 0,
                code: Some("unavailable".into()),
                message: None,
            },
        };
        let text = serde_json::to_string(&line).expect("encode");
        assert!(text.starts_with(r#"{"t":7,"ev":"call","kind":"single_server""#), "{text}");
        assert_eq!(Line::parse(&text), Some(line));
        assert_eq!(Line::parse("a log line"), None);
    }
}
