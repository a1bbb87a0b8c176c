//! The largest frame the bus publishes: the smaller of
//! [`RedisBusOptions::max_frame_size`](crate::RedisBusOptions::max_frame_size)
//! and the server's `proto-max-bulk-len`, which Redis applies to every
//! argument of a command (a `PUBLISH`'s frame is one). A larger argument
//! makes Redis reply with a protocol error and close the connection, so the
//! bus refuses such frames before sending anything.
//!
//! Decision: `proto-max-bulk-len` is read once, at connect, with `CONFIG
//! GET` on the publisher connection: on a Redis Cluster from any one node,
//! behind Sentinels from the master of the moment (the nodes of one
//! deployment are expected to share their configuration; a limit lowered
//! later is not seen until the bus reconnects from scratch). Where `CONFIG`
//! is refused (an ACL without it, a managed Redis that renames it) or
//! fails, the bus assumes Redis's default, 512 MiB. `client-query-buffer-limit`
//! (1 GiB by default) bounds a whole command and is not read: it is above
//! the bulk limit unless an operator raises `proto-max-bulk-len` past it
//! (Redis allows that), and docs/DEPLOYMENT.md tells to raise both.

use std::collections::HashMap;

use crate::conn::Conn;

/// Redis's default `proto-max-bulk-len`, assumed when the server does not tell.
pub(crate) const DEFAULT_PROTO_MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// A frame limit and what sets it (words for the refusal's message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BulkLimit {
    pub(crate) bytes: usize,
    pub(crate) origin: &'static str,
}

/// The bus's limit: `configured` (the option), or the server's
/// `proto-max-bulk-len` where that is smaller.
pub(crate) async fn learn(conn: &mut Conn, configured: usize) -> BulkLimit {
    let server = proto_max_bulk_len(conn).await;
    choose(configured, server)
}

/// The smaller limit of the option and the server's (`None`: not told).
fn choose(configured: usize, server: Option<usize>) -> BulkLimit {
    let (bytes, origin) = match server {
        Some(server) => (server, "the Redis server's proto-max-bulk-len"),
        None => (DEFAULT_PROTO_MAX_BULK_LEN, "Redis's default proto-max-bulk-len (CONFIG GET was refused)"),
    };
    match configured < bytes {
        true => BulkLimit { bytes: configured, origin: "the Redis bus's max_frame_size option" },
        false => BulkLimit { bytes, origin },
    }
}

/// The server's `proto-max-bulk-len`, if it tells.
async fn proto_max_bulk_len(conn: &mut Conn) -> Option<usize> {
    let mut command = redis::cmd("CONFIG");
    command.arg("GET").arg("proto-max-bulk-len");
    match conn.on_any_node::<HashMap<String, String>>(command).await {
        Ok(config) => config.get("proto-max-bulk-len").and_then(|value| value.parse().ok()),
        Err(e) => {
            tracing::debug!(error = %e, "psrpc Redis bus: CONFIG GET proto-max-bulk-len failed; assuming 512 MiB");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_PROTO_MAX_BULK_LEN, choose};

    #[test]
    fn the_smaller_limit_wins_and_names_its_origin() {
        let option = choose(1 << 20, Some(512 << 20));
        assert_eq!((option.bytes, option.origin), (1 << 20, "the Redis bus's max_frame_size option"));
        let server = choose(8 << 20, Some(1 << 20));
        assert_eq!((server.bytes, server.origin), (1 << 20, "the Redis server's proto-max-bulk-len"));
        let unknown = choose(usize::MAX, None);
        assert_eq!(unknown.bytes, DEFAULT_PROTO_MAX_BULK_LEN);
        assert!(unknown.origin.contains("refused"), "{}", unknown.origin);
    }
}
