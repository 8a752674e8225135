//! A decoded Avro value as the transform reads it: MessagePack, written
//! straight from the Avro bytes (Protobuf's goes through prost-reflect's
//! serializer instead, `protobuf.rs`). Numbers stay binary (an Avro `float` is a
//! MessagePack f32, read into an `f32` exactly, with no text printed or
//! parsed), strings are copied once, and the mapping is that of the JSON text
//! older transforms get (unions without wrappers, enums and logical types as
//! text, bytes as base64, NaN and the infinities as strings), so
//! `common::msgpack::to_json` gives that text byte for byte.
//!
//! Arrays and maps come in Avro blocks whose total is known only at the
//! end: their headers are written at full width (`array 32`, `map 32`) and
//! the count is filled in when the last block is read.

use base64::Engine as _;
use rmp::encode;

/// Writes MessagePack values into a buffer. Writing to a `Vec` cannot fail,
/// so the encoder's `Result`s are dropped.
pub(super) struct Pack<'o> {
    out: &'o mut Vec<u8>,
}

/// Where a container's header was written, to fill its count in later.
#[derive(Debug, Clone, Copy)]
pub(super) struct Open(usize);

impl<'o> Pack<'o> {
    pub(super) fn new(out: &'o mut Vec<u8>) -> Pack<'o> {
        Pack { out }
    }

    pub(super) fn nil(&mut self) {
        let _ = encode::write_nil(self.out);
    }

    pub(super) fn bool(&mut self, b: bool) {
        let _ = encode::write_bool(self.out, b);
    }

    pub(super) fn int(&mut self, v: i64) {
        let _ = encode::write_sint(self.out, v);
    }

    pub(super) fn uint(&mut self, v: u64) {
        let _ = encode::write_uint(self.out, v);
    }

    /// An Avro `float`; NaN and the infinities as text, as JSON has them.
    pub(super) fn f32(&mut self, v: f32) {
        if v.is_finite() {
            let _ = encode::write_f32(self.out, v);
        } else {
            self.non_finite(f64::from(v));
        }
    }

    /// An Avro `double`; NaN and the infinities as text.
    pub(super) fn f64(&mut self, v: f64) {
        if v.is_finite() {
            let _ = encode::write_f64(self.out, v);
        } else {
            self.non_finite(v);
        }
    }

    fn non_finite(&mut self, v: f64) {
        self.str(if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
    }

    pub(super) fn str(&mut self, s: &str) {
        let _ = encode::write_str(self.out, s);
    }

    /// Bytes as their base64 text (standard alphabet, padded).
    pub(super) fn base64(&mut self, bytes: &[u8]) {
        let engine = &base64::engine::general_purpose::STANDARD;
        let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
        let _ = encode::write_str_len(self.out, len as u32);
        let start = self.out.len();
        self.out.resize(start + len, 0);
        let _ = engine.encode_slice(bytes, &mut self.out[start..]);
    }

    /// A map of `len` entries, known up front (an Avro record's fields).
    pub(super) fn map(&mut self, len: usize) {
        let _ = encode::write_map_len(self.out, len as u32);
    }

    /// An array whose count is filled in by [`Pack::close`].
    pub(super) fn open_array(&mut self) -> Open {
        self.open(0xdd)
    }

    /// A map whose count is filled in by [`Pack::close`].
    pub(super) fn open_map(&mut self) -> Open {
        self.open(0xdf)
    }

    fn open(&mut self, marker: u8) -> Open {
        let at = self.out.len();
        self.out.extend_from_slice(&[marker, 0, 0, 0, 0]);
        Open(at)
    }

    /// Fills in the count of the container opened at `open`.
    pub(super) fn close(&mut self, open: Open, count: usize) -> Result<(), String> {
        let count = u32::try_from(count)
            .map_err(|_| format!("an array or map of {count} items is too long"))?;
        self.out[open.0 + 1..open.0 + 5].copy_from_slice(&count.to_be_bytes());
        Ok(())
    }
}
