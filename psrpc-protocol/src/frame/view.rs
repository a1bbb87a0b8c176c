//! Reading a frame's `Msg` fields in place, for the receiving hot path: the
//! type URL and the routing key as borrowed bytes and the value as a range of
//! the frame, so checking the type and finding the channel allocate nothing.
//!
//! Decision: this reader takes only what it can read plainly (known fields
//! with their own wire types, valid UTF-8, unknown fields of the four common
//! wire types). Anything else (groups, a known field with another wire type,
//! a bad varint, a truncated field, a key prost rejects: above `u32::MAX`,
//! field number 0, wire types 6 and 7) makes it give up, and the caller
//! decodes the frame with prost, whose result (or error) then stands. So the
//! two never disagree on what a frame holds; an exhaustive test of the key's
//! edges and a property test hold them to it.

use std::ops::Range;

/// The fields of one `internal.Msg` frame, borrowed from its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MsgView<'a> {
    /// `Msg.type_url` (field 1), valid UTF-8.
    pub(super) type_url: &'a [u8],
    /// Where `Msg.value` (field 2) lies in the frame.
    pub(super) value: Range<usize>,
    /// `Msg.channel` (field 3), valid UTF-8.
    pub(super) channel: &'a str,
    /// `Msg.compression` (field 4).
    pub(super) compression: i32,
}

impl<'a> MsgView<'a> {
    /// The fields of `frame`; `None` when it is not a plainly readable `Msg`
    /// (decode it with prost then). As with prost, a field that occurs more
    /// than once takes its last value.
    pub(super) fn read(frame: &'a [u8]) -> Option<Self> {
        let mut view = MsgView { type_url: &[], value: 0..0, channel: "", compression: 0 };
        let mut at = 0;
        while at < frame.len() {
            let (tag, wire_type) = key(frame, &mut at)?;
            match (tag, wire_type) {
                (1..=3, 2) => {
                    let field = delimited(frame, &mut at)?;
                    match tag {
                        1 => view.type_url = std::str::from_utf8(&frame[field.clone()]).ok()?.as_bytes(),
                        2 => view.value = field,
                        _ => view.channel = std::str::from_utf8(&frame[field]).ok()?,
                    }
                }
                // Enumerations are int32 on the wire: the low 32 bits, as prost reads them.
                (4, 0) => view.compression = varint(frame, &mut at)? as i32,
                (5.., 0) => {
                    varint(frame, &mut at)?;
                }
                (5.., 1) => at = at.checked_add(8).filter(|end| *end <= frame.len())?,
                (5.., 2) => {
                    delimited(frame, &mut at)?;
                }
                (5.., 5) => at = at.checked_add(4).filter(|end| *end <= frame.len())?,
                _ => return None,
            }
        }
        Some(view)
    }
}

/// A field's key at `at` (advanced past it) as `(field number, wire type)`,
/// or `None` where prost rejects the key: a varint above `u32::MAX`, or
/// field number 0. (Wire types 3 to 7 come back as they are; the caller
/// reads none of them.) The largest field number a `u32` key holds is
/// 2^29 − 1, protobuf's own limit.
fn key(buf: &[u8], at: &mut usize) -> Option<(u32, u64)> {
    let key = u32::try_from(varint(buf, at)?).ok()?;
    let tag = key >> 3;
    (tag != 0).then_some((tag, u64::from(key & 7)))
}

/// A base-128 varint at `at` (advanced past it), as protobuf and prost read
/// it: at most ten bytes, the tenth no more than 1.
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(*at)?;
        *at += 1;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// A length-delimited field's bytes at `at` (advanced past them).
fn delimited(buf: &[u8], at: &mut usize) -> Option<Range<usize>> {
    let len = usize::try_from(varint(buf, at)?).ok()?;
    let start = *at;
    let end = start.checked_add(len).filter(|end| *end <= buf.len())?;
    *at = end;
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut as _, Bytes};
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::envelope::{self, Msg};

    #[test]
    fn encoded_frames_are_read_in_place() {
        let msg = Msg {
            type_url: "t/u".into(),
            value: Bytes::from_static(b"\x08\x01"),
            channel: "M.REQ".into(),
            compression: 1,
        };
        let frame = msg.encode_to_vec();
        let view = MsgView::read(&frame).expect("a plain frame");
        assert_eq!((view.type_url, &frame[view.value.clone()], view.channel), (&b"t/u"[..], &b"\x08\x01"[..], "M.REQ"));
        assert_eq!(view.compression, 1);
    }

    #[test]
    fn what_it_does_not_read_plainly_is_left_to_prost() {
        let group = [0x2b, 0x2c]; // field 5: start group, end group
        let type_url_as_varint = [0x08, 0x01];
        let bad_utf8_channel = [0x1a, 0x01, 0xff];
        let truncated = [0x0a, 0x05, b'a'];
        let eleven_byte_varint = [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        for frame in [&group[..], &type_url_as_varint, &bad_utf8_channel, &truncated, &eleven_byte_varint] {
            assert_eq!(MsgView::read(frame), None, "{frame:x?}");
        }
        // prost accepts the group (an unknown field) and says why the others fail.
        assert!(Msg::decode(&group[..]).is_ok());
        assert!(Msg::decode(&truncated[..]).is_err());
    }

    /// The minimal frame that once passed the reader while prost refused it:
    /// a key varint of 2^32 + 61 (above `u32::MAX`) with wire type 5.
    #[test]
    fn a_key_above_u32_max_is_left_to_prost() {
        let frame = [189, 128, 128, 128, 16, 0, 0, 0, 0];
        assert!(Msg::decode(&frame[..]).is_err());
        assert_eq!(MsgView::read(&frame), None);
    }

    /// Every key at the edges prost checks (field numbers 0, 1 to 5, the
    /// largest, and keys just above `u32::MAX`), with every wire type and a
    /// well-formed body for it: the reader accepts a frame only where prost
    /// does, and then reads the same fields.
    #[test]
    fn the_reader_rejects_every_key_prost_rejects() {
        let max_tag = u64::from(u32::MAX >> 3);
        let tags = [0, 1, 2, 3, 4, 5, 6, 15, 16, 2047, max_tag, max_tag + 1, 1 << 32, (1 << 61) - 1];
        for tag in tags {
            for wire_type in 0..8 {
                let mut frame = Vec::new();
                prost::encoding::encode_varint(tag << 3 | wire_type, &mut frame);
                frame.extend_from_slice(match wire_type {
                    0 => &[0x01][..],
                    1 => &[0; 8],
                    2 => &[0x01, b'a'],
                    5 => &[0; 4],
                    _ => &[],
                });
                let prost = Msg::decode(&frame[..]);
                match MsgView::read(&frame) {
                    Some(view) => {
                        let msg = prost
                            .unwrap_or_else(|e| panic!("tag {tag} wire type {wire_type}: reader accepts, prost: {e}"));
                        assert_eq!((msg.type_url.as_bytes(), msg.channel.as_str()), (view.type_url, view.channel));
                        assert_eq!(
                            (msg.value.as_ref(), msg.compression),
                            (&frame[view.value.clone()], view.compression)
                        );
                    }
                    None => assert!(
                        tag == 0
                            || tag > max_tag
                            || wire_type > 5
                            || matches!(wire_type, 3 | 4)
                            || (tag <= 4 && prost.is_err()),
                        "tag {tag} wire type {wire_type}: the reader gave up on a plain field"
                    ),
                }
            }
        }
    }

    /// One field: a tag, a wire type and what follows the key; mostly the
    /// wire types and text that a `Msg` holds, sometimes anything.
    fn field() -> impl Strategy<Value = Vec<u8>> {
        let wire_type = prop_oneof![4 => prop_oneof![Just(0u64), Just(1), Just(2), Just(5)], 1 => 0u64..8];
        let body = prop_oneof![
            3 => "[a-zA-Z0-9./_|]{0,12}".prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..12),
        ];
        // Mostly the fields a `Msg` has, sometimes a key at prost's edges.
        let tag = prop_oneof![8 => 0u64..8, 1 => (u64::from(u32::MAX >> 3) - 1)..(1 << 33)];
        (tag, wire_type, any::<u64>(), body).prop_map(|(tag, wire_type, number, body)| {
            let mut out = Vec::new();
            prost::encoding::encode_varint(tag << 3 | wire_type, &mut out);
            match wire_type {
                0 => prost::encoding::encode_varint(number, &mut out),
                1 => out.put_u64_le(number),
                2 => {
                    prost::encoding::encode_varint(body.len() as u64, &mut out);
                    out.extend_from_slice(&body);
                }
                5 => out.put_u32_le(number as u32),
                _ => {}
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Whatever the reader accepts, prost decodes to the same fields
        /// (and the routing-key decoder to the same channel).
        #[test]
        fn the_reader_never_disagrees_with_prost(
            fields in proptest::collection::vec(field(), 0..6),
            noise in proptest::collection::vec(any::<u8>(), 0..24),
            use_noise in any::<bool>(),
        ) {
            let frame = if use_noise { noise } else { fields.concat() };
            if let Some(view) = MsgView::read(&frame) {
                let msg = Msg::decode(&frame[..]).expect("prost decodes what the reader read");
                prop_assert_eq!(msg.type_url.as_bytes(), view.type_url);
                prop_assert_eq!(msg.value.as_ref(), &frame[view.value.clone()]);
                prop_assert_eq!(msg.channel.as_str(), view.channel);
                prop_assert_eq!(msg.compression, view.compression);
                let channel = envelope::Channel::decode(&frame[..]).expect("prost reads the routing key");
                prop_assert_eq!(channel.channel.as_str(), view.channel);
            }
        }
    }
}
