//! The query parameters of a NATS bus URL that the bus reads itself (and
//! removes before the URL goes to async-nats).
//!
//! | parameter | meaning |
//! |---|---|
//! | `namespace=NS` | the bus's [`Namespace`] (docs/WIRE.md section 14) |

use psrpc_protocol::namespace::Namespace;

/// Takes `namespace=NS` out of one server URL: the URL without it, and the
/// namespace if it was given. Other parameters stay as they are.
pub(crate) fn take_namespace(url: &str) -> Result<(String, Option<Namespace>), String> {
    // A `?` inside the credentials does not start the query.
    let after_auth = url.rfind('@').map_or(0, |at| at + 1);
    let Some(q) = url[after_auth..].find('?').map(|q| after_auth + q) else {
        return Ok((url.to_owned(), None));
    };
    let mut namespace = None;
    let mut kept = Vec::new();
    for pair in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("namespace", value)) => {
                namespace = Some(Namespace::new(value).map_err(|e| e.to_string())?);
            }
            _ => kept.push(pair),
        }
    }
    let base = &url[..q];
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, namespace))
}

#[cfg(test)]
mod tests {
    use super::take_namespace;

    #[test]
    fn the_namespace_is_taken_out_and_other_parameters_stay() {
        let (url, ns) = take_namespace("nats://h:4222?namespace=blue").unwrap();
        assert_eq!((url.as_str(), ns.unwrap().as_str()), ("nats://h:4222", "blue"));
        let (url, ns) = take_namespace("nats://u:p?x@h:4222?a=1&namespace=b-2&c=3").unwrap();
        assert_eq!((url.as_str(), ns.unwrap().as_str()), ("nats://u:p?x@h:4222?a=1&c=3", "b-2"));
        assert_eq!(take_namespace("nats://h:4222").unwrap(), ("nats://h:4222".to_owned(), None));
        let why = take_namespace("nats://h:4222?namespace=a.b").unwrap_err();
        assert!(why.contains("[A-Za-z0-9_-]"), "{why}");
        assert!(take_namespace("nats://h:4222?namespace=").is_err());
    }
}
