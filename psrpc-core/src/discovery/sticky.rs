//! Sticky sessions: rendezvous (highest random weight) hashing of a key over
//! the live servers of a method.
//!
//! Each server gets a score from a hash of (key, server id); the key goes to
//! the server with the highest score. When a server leaves, only the keys it
//! held move (each to the next-highest server); when one joins, it takes only
//! the keys it now scores highest on. The hash is FNV-1a 64 followed by a
//! SplitMix64 finalizer: fixed across processes and releases, so every
//! client picks the same server for a key.

/// The server `key` sticks to among `servers` (`None` when there is none).
///
/// ```
/// use psrpc::discovery::sticky_server;
/// let servers = ["SRV_a".to_owned(), "SRV_b".to_owned(), "SRV_c".to_owned()];
/// let chosen = sticky_server("user-42", &servers).unwrap();
/// let without_other = servers.iter().filter(|s| *s == chosen || *s == "SRV_a").cloned().collect::<Vec<_>>();
/// assert_eq!(sticky_server("user-42", &without_other), Some(chosen), "removing another server keeps the key");
/// ```
pub fn sticky_server<'a>(key: &str, servers: &'a [String]) -> Option<&'a str> {
    servers.iter().max_by_key(|s| (score(key, s), s.as_str())).map(String::as_str)
}

fn score(key: &str, server: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain([0xff]).chain(server.bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finalizer: FNV alone mixes the last bytes poorly.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("SRV_{i:012}")).collect()
    }

    fn assign(keys: &[String], servers: &[String]) -> HashMap<String, String> {
        keys.iter().map(|k| (k.clone(), sticky_server(k, servers).expect("a server").to_owned())).collect()
    }

    #[test]
    fn ten_thousand_keys_spread_evenly_and_only_a_leaving_servers_keys_move() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("session-{i}")).collect();
        let five = servers(5);
        let before = assign(&keys, &five);
        assert_eq!(before, assign(&keys, &five), "each key always reaches one server");
        let mut load: HashMap<&str, usize> = HashMap::new();
        for server in before.values() {
            *load.entry(server).or_default() += 1;
        }
        assert_eq!(load.len(), 5);
        for (server, count) in &load {
            assert!((1600..=2400).contains(count), "{server}: {count} keys, not within ±20 % of 2000");
        }
        let leaving = &five[2];
        let four: Vec<String> = five.iter().filter(|s| *s != leaving).cloned().collect();
        let after = assign(&keys, &four);
        let moved = keys.iter().filter(|k| before[*k] != after[*k]).count();
        assert_eq!(moved, load[leaving.as_str()], "exactly the leaving server's keys move");
        assert!(keys.iter().all(|k| before[k] == *leaving || before[k] == after[k]));
        assert_eq!(sticky_server("k", &[]), None);
    }
}
