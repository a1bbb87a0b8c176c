//! Small encodings (frames, payloads) written into chunks shared per thread.
//!
//! Decision: a frame or payload of up to [`MAX_SHARED`] bytes is written at
//! the end of its thread's current chunk of [`CHUNK`] bytes and split off as
//! [`Bytes`] sharing the chunk. That saves an allocation per encoding, and
//! more: a [`Bytes`] made from a `Vec` allocates on its first clone (its
//! shared header), while one split off a chunk clones by a reference count
//! (the NATS client clones every frame it publishes; a payload is cloned
//! into its envelope). Once every piece of a chunk is dropped the chunk is
//! written again from its start, so one call at a time allocates nothing
//! here. The price: a piece kept alive keeps its whole chunk (at most
//! [`CHUNK`] bytes) alive. Larger encodings get a buffer of their own.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// The size of a thread's chunk.
///
/// ```
/// assert_eq!(psrpc_protocol::arena::CHUNK, 8 << 10);
/// ```
pub const CHUNK: usize = 8 << 10;

/// The largest encoding written into a chunk.
///
/// ```
/// assert_eq!(psrpc_protocol::arena::MAX_SHARED, psrpc_protocol::arena::CHUNK / 4);
/// ```
pub const MAX_SHARED: usize = CHUNK / 4;

thread_local! {
    static CURRENT: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The bytes `write` puts into a buffer with room for `len` bytes (the
/// encoding's exact size: more is correct, only slower). Up to
/// [`MAX_SHARED`] bytes come from the thread's chunk.
///
/// ```
/// use bytes::BufMut as _;
/// let a = psrpc_protocol::arena::encode(5, |buf| buf.put_slice(b"hello"));
/// let b = psrpc_protocol::arena::encode(5, |buf| buf.put_slice(b"world"));
/// assert_eq!((&a[..], &b[..]), (&b"hello"[..], &b"world"[..]));
/// ```
pub fn encode(len: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut write = Some(write);
    if len <= MAX_SHARED {
        // Where the chunk is out of reach (`write` encoding through here
        // itself, or the thread ending) the encoding gets its own buffer.
        let shared = CURRENT.try_with(|current| {
            let mut chunk = current.try_borrow_mut().ok()?;
            if chunk.capacity() < len {
                // Reclaims the chunk when nothing else holds it, else starts a new one.
                chunk.reserve(CHUNK);
            }
            (write.take()?)(&mut chunk);
            Some(chunk.split().freeze())
        });
        if let Ok(Some(bytes)) = shared {
            return bytes;
        }
    }
    let mut own = BytesMut::with_capacity(len);
    if let Some(write) = write {
        write(&mut own);
    }
    own.freeze()
}

#[cfg(test)]
mod tests {
    use bytes::BufMut as _;

    use super::*;

    fn filled(len: usize, byte: u8) -> Bytes {
        encode(len, |buf| buf.put_bytes(byte, len))
    }

    #[test]
    fn pieces_of_one_chunk_stay_apart_and_survive_the_chunk_moving_on() {
        let pieces: Vec<Bytes> = (0..3 * CHUNK / 100).map(|i| filled(100, i as u8)).collect();
        for (i, piece) in pieces.iter().enumerate() {
            assert_eq!(piece.len(), 100);
            assert!(piece.iter().all(|&b| b == i as u8), "piece {i} was overwritten");
        }
    }

    #[test]
    fn a_chunk_is_written_again_once_its_pieces_are_dropped() {
        let first = filled(64, 1);
        let address = first.as_ptr();
        drop(first);
        let reused = (0..2 * CHUNK / 64).any(|_| {
            let again = filled(64, 3);
            assert!(again.iter().all(|&b| b == 3));
            again.as_ptr() == address
        });
        assert!(reused, "the unshared chunk was written again from its start");
    }

    #[test]
    fn large_encodings_and_undersized_lengths_are_still_whole() {
        let large = filled(MAX_SHARED + 1, 7);
        assert_eq!(large.len(), MAX_SHARED + 1);
        let more_than_announced = encode(2, |buf| buf.put_slice(b"longer than two"));
        assert_eq!(&more_than_announced[..], b"longer than two");
        assert_eq!(&filled(10, 9)[..], &[9; 10]);
    }
}
