//! Broker settings for large payloads: what a broker started for the run
//! needs so that `--payload` (up to 8 MiB and beyond) fits its frames and
//! `--concurrency` such frames in flight fit its per-connection buffers.
//!
//! - NATS: `max_payload` (1 MiB by default, 64 MiB at most) must hold a
//!   frame, and `max_pending` (64 MiB by default: the bytes a server may
//!   queue for one connection before it drops it as a slow consumer) the
//!   frames in flight.
//! - Redis: `proto-max-bulk-len` (512 MiB) holds any payload the bench
//!   takes; `client-output-buffer-limit pubsub` (32 MiB hard) bounds what
//!   Redis queues for one subscriber connection before it closes it, and
//!   must hold the frames in flight. The bus's own `max_frame_size` option
//!   is lifted, so the server's limit is the one that applies.
//!
//! Settings stay at the brokers' defaults wherever those suffice.

/// Room in a frame for the envelope around the payload (ids, metadata,
/// routing), generously.
const ENVELOPE_ROOM: usize = 64 * 1024;

/// NATS's default `max_payload`.
const NATS_DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// The largest `max_payload` nats-server accepts.
const NATS_MAX_PAYLOAD: usize = 64 << 20;

/// NATS's default `max_pending`.
const NATS_DEFAULT_MAX_PENDING: usize = 64 << 20;

/// Redis's default hard `client-output-buffer-limit` for pub/sub clients.
const REDIS_DEFAULT_PUBSUB_LIMIT: usize = 32 << 20;

/// The payload and concurrency of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    pub(crate) payload: usize,
    pub(crate) concurrency: usize,
}

impl Load {
    /// The largest frame of the run.
    fn frame(self) -> usize {
        self.payload + ENVELOPE_ROOM
    }

    /// What one connection may have queued at once: every call's request
    /// and response, twice over for frames on their way.
    fn in_flight(self) -> usize {
        4 * self.concurrency.max(1) * self.frame()
    }

    /// The nats-server configuration the run needs, if the defaults do not
    /// do; fails when a frame cannot fit NATS's largest `max_payload`.
    pub(crate) fn nats_config(self) -> anyhow::Result<Option<String>> {
        anyhow::ensure!(
            self.frame() <= NATS_MAX_PAYLOAD,
            "a {} byte payload does not fit NATS's largest max_payload (64 MiB) with its envelope",
            self.payload
        );
        if self.frame() <= NATS_DEFAULT_MAX_PAYLOAD && self.in_flight() <= NATS_DEFAULT_MAX_PENDING {
            return Ok(None);
        }
        let max_payload = self.frame().next_multiple_of(1 << 20).max(NATS_DEFAULT_MAX_PAYLOAD);
        let max_pending = self.in_flight().max(NATS_DEFAULT_MAX_PENDING);
        Ok(Some(format!("max_payload: {max_payload}\nmax_pending: {max_pending}\n")))
    }

    /// The redis-server arguments the run needs (none when the defaults do).
    pub(crate) fn redis_args(self) -> Vec<String> {
        if self.in_flight() <= REDIS_DEFAULT_PUBSUB_LIMIT {
            return Vec::new();
        }
        let limit = self.in_flight().to_string();
        ["--client-output-buffer-limit", "pubsub", &limit, &limit, "0"].map(str::to_owned).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::Load;

    #[test]
    fn small_runs_keep_the_defaults_and_large_ones_raise_the_limits() {
        let small = Load { payload: 128, concurrency: 64 };
        assert_eq!(small.nats_config().expect("fits"), None);
        assert!(small.redis_args().is_empty());
        let large = Load { payload: 8 << 20, concurrency: 8 };
        let config = large.nats_config().expect("fits").expect("raised");
        assert!(config.contains("max_payload: 9437184\n"), "{config}");
        assert!(large.redis_args().contains(&"pubsub".to_owned()));
        assert!(Load { payload: 64 << 20, concurrency: 1 }.nats_config().is_err());
    }
}
