//! Helpers shared by the NATS integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use psrpc_bus_nats::NatsBus;
use psrpc_core::SharedBus;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;

/// A fresh `nats-server`, or `None` when the binary is missing outside CI.
pub fn server() -> Option<NatsServer> {
    skip_or_fail(NatsServer::start())
}

/// A new bus connection to `server`.
pub async fn bus(server: &NatsServer) -> SharedBus {
    Arc::new(NatsBus::connect(server.url(), Default::default()).await.expect("connect"))
}

/// A plain async-nats connection, playing a peer that is not psrpc-rs.
pub async fn raw(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url()).await.expect("raw connect")
}

/// Minimal protobuf writer, independent of prost, for hand-built frames.
pub mod pb {
    /// A varint.
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A length-delimited field.
    pub fn bytes(field: u64, value: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(value.len() as u64, out);
        out.extend_from_slice(value);
    }

    /// A varint field.
    pub fn uint(field: u64, value: u64, out: &mut Vec<u8>) {
        varint(field << 3, out);
        varint(value, out);
    }

    /// An `internal.Msg` frame.
    pub fn frame(type_url: &str, value: &[u8], channel: &str) -> Vec<u8> {
        let mut out = Vec::new();
        bytes(1, type_url.as_bytes(), &mut out);
        bytes(2, value, &mut out);
        if !channel.is_empty() {
            bytes(3, channel.as_bytes(), &mut out);
        }
        out
    }
}
