//! Shared helpers of the psrpc-kube tests.
#![allow(dead_code, unreachable_pub)]

pub mod api_server;
pub mod dns_server;
pub mod pods;
pub mod real_api_server;
pub mod slices;
