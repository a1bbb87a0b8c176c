//! [`SharedStr`]: text held in [`Bytes`], for ids decoded out of a frame.
//!
//! Decision: an id decoded as a `String` costs an allocation per frame;
//! sliced out of the received frame it costs none, and cloning it only
//! counts a reference. The text is checked to be UTF-8 once, where a
//! `SharedStr` is made, and read back through a safe check that cannot fail
//! then (no `unsafe`; ids are a few bytes long).

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// UTF-8 text in a [`Bytes`]: cloned by a reference count, and decoded
/// without copying (see [`frame::decode_with_ids`](crate::frame::decode_with_ids)).
///
/// ```
/// use bytes::Bytes;
/// use psrpc_protocol::shared_str::SharedStr;
///
/// let id = SharedStr::try_from(Bytes::from_static(b"REQ_1")).unwrap();
/// assert_eq!(id.as_str(), "REQ_1");
/// assert_eq!(id, SharedStr::from("REQ_1".to_owned()));
/// assert!(SharedStr::try_from(Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct SharedStr(Bytes);

impl SharedStr {
    /// The text.
    ///
    /// ```
    /// use psrpc_protocol::shared_str::SharedStr;
    /// assert_eq!(SharedStr::from(String::from("CLI_a")).as_str(), "CLI_a");
    /// ```
    pub fn as_str(&self) -> &str {
        // Checked where the value was made: this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        SharedStr(Bytes::from(text))
    }
}

impl TryFrom<Bytes> for SharedStr {
    type Error = std::str::Utf8Error;

    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&bytes)?;
        Ok(SharedStr(bytes))
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_bytes_and_print_as_text() {
        let id = SharedStr::try_from(Bytes::from(b"SRV_x".to_vec())).expect("utf-8");
        let copy = id.clone();
        assert_eq!(copy.0.as_ptr(), id.0.as_ptr());
        assert_eq!((format!("{id}"), format!("{id:?}")), ("SRV_x".to_owned(), "\"SRV_x\"".to_owned()));
        assert_eq!(&*SharedStr::default(), "");
    }
}
