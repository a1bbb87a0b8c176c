//! Identifiers: a prefix and 12 characters of `[a-zA-Z0-9]` (docs/WIRE.md section 7).

use std::sync::Arc;

use rand::Rng as _;

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ID_CHARS: usize = 12;

/// Prefix of client ids.
///
/// ```
/// use psrpc_protocol::id;
/// assert!(id::new_client_id().starts_with(id::CLIENT_PREFIX));
/// ```
pub const CLIENT_PREFIX: &str = "CLI_";
/// Prefix of server ids.
///
/// ```
/// use psrpc_protocol::id;
/// assert!(id::new_server_id().starts_with(id::SERVER_PREFIX));
/// ```
pub const SERVER_PREFIX: &str = "SRV_";
/// Prefix of request ids.
///
/// ```
/// use psrpc_protocol::id;
/// assert!(id::new_request_id().starts_with(id::REQUEST_PREFIX));
/// ```
pub const REQUEST_PREFIX: &str = "REQ_";
/// Prefix of stream ids.
///
/// ```
/// use psrpc_protocol::id;
/// assert!(id::new_stream_id().starts_with(id::STREAM_PREFIX));
/// ```
pub const STREAM_PREFIX: &str = "STR_";

/// A new random client id, `CLI_` + 12 characters.
///
/// ```
/// use psrpc_protocol::id;
/// let a = id::new_client_id();
/// assert_eq!(a.len(), 16);
/// assert_ne!(a, id::new_client_id());
/// ```
pub fn new_client_id() -> String {
    new_id(CLIENT_PREFIX)
}

/// A new random server id, `SRV_` + 12 characters.
///
/// ```
/// use psrpc_protocol::id;
/// assert_eq!(id::new_server_id().len(), 16);
/// ```
pub fn new_server_id() -> String {
    new_id(SERVER_PREFIX)
}

/// A new random request id, `REQ_` + 12 characters.
///
/// ```
/// use psrpc_protocol::id;
/// assert_eq!(&id::new_request_id()[..4], "REQ_");
/// ```
pub fn new_request_id() -> String {
    new_id(REQUEST_PREFIX)
}

/// A new random request id, as [`new_request_id`], made shared at once: one
/// allocation for an id that a call's routing table, its guard and its
/// envelopes all borrow.
///
/// ```
/// use psrpc_protocol::id;
/// let shared = id::new_shared_request_id();
/// assert!(shared.starts_with(id::REQUEST_PREFIX) && shared.len() == 16);
/// ```
pub fn new_shared_request_id() -> Arc<str> {
    let mut id = [0; REQUEST_PREFIX.len() + ID_CHARS];
    let (prefix, chars) = id.split_at_mut(REQUEST_PREFIX.len());
    prefix.copy_from_slice(REQUEST_PREFIX.as_bytes());
    chars.copy_from_slice(&random_chars());
    // The prefix and the alphabet are ASCII.
    Arc::from(std::str::from_utf8(&id).unwrap_or_default())
}

/// A new random stream id, `STR_` + 12 characters.
///
/// ```
/// use psrpc_protocol::id;
/// assert_eq!(&id::new_stream_id()[..4], "STR_");
/// ```
pub fn new_stream_id() -> String {
    new_id(STREAM_PREFIX)
}

/// A new random id: `prefix` followed by 12 characters of `[a-zA-Z0-9]`.
///
/// ```
/// use psrpc_protocol::id;
/// let pod = id::new_id("POD_");
/// assert!(pod.starts_with("POD_") && pod[4..].chars().all(|c| c.is_ascii_alphanumeric()));
/// ```
pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + ID_CHARS);
    id.push_str(prefix);
    id.extend(random_chars().map(char::from));
    id
}

/// The random part of an id: 12 characters of [`ALPHABET`].
fn random_chars() -> [u8; ID_CHARS] {
    let mut rng = rand::rng();
    std::array::from_fn(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_twelve_alphanumerics() {
        for (id, prefix) in [
            (new_client_id(), "CLI_"),
            (new_server_id(), "SRV_"),
            (new_request_id(), "REQ_"),
            (new_stream_id(), "STR_"),
            (new_shared_request_id().to_string(), "REQ_"),
        ] {
            let rest = id.strip_prefix(prefix).expect("prefix");
            assert_eq!(rest.len(), 12);
            assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn ids_are_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
