//! How publishes reach Redis: through the bus's writer task, which sends
//! every queued command in one pipeline; or (on a Redis Cluster) straight
//! on the cluster connection.
//!
//! Decision: on one server (direct, or found through Sentinels) every
//! publish, claim and claim lock is queued to one writer task per bus.
//! The task takes everything queued (up to [`BATCH`] commands, or
//! [`BATCH_BYTES`]), sends it to the publisher connection as one pipeline
//! (one buffer, one request through redis-rs's connection task, one vector
//! of replies) and waits for the replies before it sends the next
//! pipeline. Commands therefore reach Redis in the order they were queued,
//! by construction: one sender, one pipeline in flight. Under load the
//! next batch queues while a pipeline is in flight, so redis-rs's
//! per-command cost (a request and a oneshot through its connection task,
//! a timer) is paid once per batch.
//!
//! Decision: the task sends every batch, even a lone command at one call
//! in flight. A publish that found the writer idle could send its command
//! itself and save the hop through the task, but then the next batch
//! starts with one command only; measured, that lost the throughput the
//! pipeline gains at 64 calls in flight, and won nothing measurable at one.
//!
//! Decision: a publish waits for its own reply (a oneshot from the task)
//! instead of returning once queued, so callers keep the bus's fault
//! rules: a command Redis refused, or a pipeline lost with its connection,
//! reaches every caller in it as an error (and marks the connection down),
//! and each caller's wait stays bounded by the response timeout.
//!
//! Decision: on a Redis Cluster commands go straight to the cluster
//! connection, each on its own (not as one pipeline). redis-rs sends a cluster pipeline whole to
//! the node of its first key and refuses pipelines whose keys span slots
//! (`CROSSSLOT`); claim locks (and sharded channels) hash to any slot, so
//! a batch of them cannot go as one pipeline.
//!
//! Decision: on a Redis Cluster at most [`CLUSTER_IN_FLIGHT`] commands are
//! handed to the cluster connection at once (publishes, claims and the
//! queue locks of `subscribe_queue` frames); the others wait for a turn
//! ([`Publisher::turn`]) before the bus starts their response timeout. The
//! timeout is there to detect a Redis that stopped answering, so it must
//! not count the wait behind this process's own commands: a burst of
//! thousands of calls would otherwise fail "no answer from Redis" (and a
//! burst of queue frames lose frames whose lock timed out) while Redis
//! answers every command it is sent. A caller's wait for its turn is
//! bounded by its call's deadline, and every turn ends within the response
//! timeout, so the wait always ends. (On one server the writer task sends
//! up to [`BATCH`] commands per pipeline, and a queued command waits for
//! a few pipelines at most.)
//!
//! The publisher connection is looked up for each pipeline, so publishes
//! follow the publisher to a new master after a Sentinel failover.

use std::sync::Arc;

use redis::aio::ConnectionLike as _;
use redis::{Cmd, Pipeline, RedisResult, Value};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, oneshot};

use crate::endpoint::Endpoint;

/// The most commands sent in one pipeline.
const BATCH: usize = 256;

/// A pipeline takes no more commands once their arguments reach this size
/// (it holds at least one command, whatever its size).
const BATCH_BYTES: usize = 1024 * 1024;

/// On a cluster, the most commands waiting for Redis's answer at once:
/// enough for redis-rs to keep pipelining to every master, few enough that
/// a turn's command is answered well within a short response timeout. With
/// a 100 ms timeout and a 50,000-publish burst (test build, 2 cores), 256
/// let 2 % of the publishes time out; 64 let none.
const CLUSTER_IN_FLIGHT: usize = 64;

/// A command for the writer task and where its reply goes.
struct Job {
    cmd: Cmd,
    reply: oneshot::Sender<RedisResult<Value>>,
}

/// Where the bus's publishes go.
pub(crate) struct Publisher {
    route: Route,
    /// The publish command: `PUBLISH`, or `SPUBLISH` (sharded).
    publish: &'static str,
}

enum Route {
    /// The queue of the writer task (one server); the task ends when this
    /// is dropped, after sending what is queued.
    Pipelined(mpsc::UnboundedSender<Job>),
    /// The cluster connection, each command sent on its own (no
    /// pipeline), with turns for at most [`CLUSTER_IN_FLIGHT`] at once.
    Direct(Arc<Endpoint>, Semaphore),
}

impl Publisher {
    /// Publishes through `endpoint`: pipelined by a writer task it starts,
    /// unless `endpoint` is a cluster.
    pub(crate) fn start(endpoint: Arc<Endpoint>) -> Self {
        let publish = if endpoint.sharded() { "SPUBLISH" } else { "PUBLISH" };
        if endpoint.publisher().is_cluster() {
            return Publisher { route: Route::Direct(endpoint, Semaphore::new(CLUSTER_IN_FLIGHT)), publish };
        }
        // Unbounded: each caller waits for its reply, so the queue holds at
        // most one command per publish under way.
        let (queue, commands) = mpsc::unbounded_channel();
        tokio::spawn(write(endpoint, commands));
        Publisher { route: Route::Pipelined(queue), publish }
    }

    /// Publishes `frame` on `channel` (`SPUBLISH` with sharded pub/sub).
    pub(crate) async fn publish(&self, channel: &str, frame: &[u8]) -> RedisResult<()> {
        let mut publish = redis::cmd(self.publish);
        publish.arg(channel).arg(frame);
        self.query(publish).await.map(drop)
    }

    /// Waits until every command queued so far was answered (at most the
    /// connection's response timeout).
    pub(crate) async fn flush(&self) {
        if let Route::Pipelined(_) = self.route {
            let _ = self.query(redis::cmd("PING")).await;
        }
    }

    /// Waits for a turn to send commands (on a cluster; `None` on one
    /// server, where the writer task paces them). Held while the commands
    /// run.
    pub(crate) async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        match &self.route {
            Route::Pipelined(_) => None,
            Route::Direct(_, turns) => turns.acquire().await.ok(),
        }
    }

    /// Runs `cmd` on the publisher connection, in order with every command
    /// queued before it, and returns its reply (a server error as `Err`).
    pub(crate) async fn query(&self, cmd: Cmd) -> RedisResult<Value> {
        match &self.route {
            Route::Pipelined(queue) => {
                let (reply, replied) = oneshot::channel();
                queue.send(Job { cmd, reply }).map_err(|_| writer_gone())?;
                replied.await.map_err(|_| writer_gone())?
            }
            Route::Direct(endpoint, _) => cmd.query_async(&mut endpoint.publisher()).await,
        }
    }
}

/// The error of a command the writer task dropped unanswered (the runtime
/// is shutting down).
fn writer_gone() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the bus's publishing task ended").into()
}

/// The size of `cmd`'s arguments.
fn size(cmd: &Cmd) -> usize {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes.len(),
            _ => 0,
        })
        .sum()
}

/// The writer task: sends what `queue` holds as pipelines, one at a time.
async fn write(endpoint: Arc<Endpoint>, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut pipeline = Pipeline::with_capacity(BATCH);
    let mut replies = Vec::with_capacity(BATCH);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut bytes = 0;
        while let Some(Job { cmd, reply }) = next {
            bytes += size(&cmd);
            pipeline.add_command(cmd);
            replies.push(reply);
            next = if pipeline.len() < BATCH && bytes < BATCH_BYTES { queue.try_recv().ok() } else { None };
        }
        let mut conn = endpoint.publisher();
        match conn.req_packed_commands(&pipeline, 0, pipeline.len()).await {
            // One value per command (redis-rs checks the count).
            Ok(values) => {
                for (reply, value) in replies.drain(..).zip(values) {
                    let _ = reply.send(value.extract_error());
                }
            }
            Err(e) => replies.drain(..).for_each(|reply| drop(reply.send(Err(e.clone())))),
        }
        pipeline.clear();
    }
}
