//! A minimal protobuf writer, independent of prost and of psrpc-core's
//! encoder, for interop tests that put frames built by hand from docs/WIRE.md on a
//! real broker.

/// Appends a varint.
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field.
pub fn bytes(field: u64, value: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Appends a varint field.
pub fn uint(field: u64, value: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(value, out);
}

/// An `internal.Msg` frame: type URL, value, and (when not empty) the routing key.
pub fn frame(type_url: &str, value: &[u8], channel: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(1, type_url.as_bytes(), &mut out);
    bytes(2, value, &mut out);
    if !channel.is_empty() {
        bytes(3, channel.as_bytes(), &mut out);
    }
    out
}

/// An `internal.Request` asking `client_id`'s question `payload`, valid for 5 s.
pub fn request(request_id: &str, client_id: &str, multi: bool, payload: &[u8]) -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut out = Vec::new();
    bytes(1, request_id.as_bytes(), &mut out);
    bytes(2, client_id.as_bytes(), &mut out);
    uint(3, now, &mut out);
    uint(4, now + 5_000_000_000, &mut out);
    if multi {
        uint(5, 1, &mut out);
    }
    bytes(8, payload, &mut out);
    out
}

/// `count` runs of arbitrary bytes, up to 299 each, the same on every call:
/// what a peer that is not psrpc puts on psrpc's channels.
///
/// ```
/// let garbage = psrpc_test_support::handmade::garbage(500);
/// assert_eq!(garbage.len(), 500);
/// assert!(garbage.iter().all(|bytes| bytes.len() < 300));
/// assert_eq!(garbage, psrpc_test_support::handmade::garbage(500));
/// ```
pub fn garbage(count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 300) as usize;
            (0..len).map(|j| (seed >> (j % 56)) as u8).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_wire_md_golden_frame_for_an_empty_subscription_message() {
        let golden = "0a1c747970652e676f6f676c65617069732e636f6d2f4d79557064617465";
        let mut ours = Vec::new();
        bytes(1, b"type.googleapis.com/MyUpdate", &mut ours);
        let hex: String = ours.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, golden);
    }
}
