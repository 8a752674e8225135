//! The Confluent wire format: a zero byte, the schema id (4 bytes, big
//! endian), then the encoded value; Protobuf puts the message indexes (which
//! message of the schema's file) between the id and the message.

/// A framed payload split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The registry's schema id.
    pub id: u32,
    /// What follows the id.
    pub body: &'a [u8],
}

/// Splits `bytes` into schema id and body; `Err` says what is wrong with
/// the framing.
pub fn split(bytes: &[u8]) -> Result<Framed<'_>, String> {
    match bytes {
        [] => Err("the payload is empty, not in the Confluent wire format".into()),
        [0, a, b, c, d, body @ ..] => Ok(Framed {
            id: u32::from_be_bytes([*a, *b, *c, *d]),
            body,
        }),
        [0, ..] => Err(format!(
            "the payload is {} bytes, too short for the Confluent wire format (a zero byte and a 4-byte schema id)",
            bytes.len()
        )),
        [first, ..] => Err(format!(
            "the payload does not start with the Confluent magic byte 0 (it starts with 0x{first:02x}): not in the Confluent wire format"
        )),
    }
}

/// Reads the Protobuf message indexes at the start of `body` (zigzag
/// varints: a count, then that many indexes; a single 0 byte means `[0]`,
/// the file's first message); the indexes and the message bytes after them.
pub fn message_indexes(body: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let mut rest = body;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(0..=64).contains(&count) {
        return Err(format!("bad Protobuf message index count {count}"));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = zigzag(&mut rest)?;
        let i = usize::try_from(i).map_err(|_| format!("bad Protobuf message index {i}"))?;
        indexes.push(i);
    }
    Ok((indexes, rest))
}

fn zigzag(rest: &mut &[u8]) -> Result<i64, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest
            .split_first()
            .ok_or("the Protobuf message indexes end early")?;
        *rest = tail;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err("a Protobuf message index varint is too long".into())
}

/// `id` framed: for tests and `kmv-host test` fixtures.
pub fn frame(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_checked() {
        let f = split(&[0, 0, 0, 1, 2, 9, 9]).unwrap();
        assert_eq!((f.id, f.body), (258, &[9, 9][..]));
        assert_eq!(split(&frame(7, b"")).unwrap().id, 7);
        assert!(split(b"{\"id\":1}").unwrap_err().contains("magic byte 0"));
        assert!(split(&[0, 1]).unwrap_err().contains("too short"));
        assert!(split(&[]).unwrap_err().contains("empty"));
    }

    #[test]
    fn message_indexes_as_confluent_writes_them() {
        // [0] is the single byte 0.
        assert_eq!(message_indexes(&[0, 8]).unwrap(), (vec![0], &[8][..]));
        // [1, 2]: count 2, then 1 and 2, zigzag (2, 4).
        assert_eq!(
            message_indexes(&[4, 2, 4, 8]).unwrap(),
            (vec![1, 2], &[8][..])
        );
        assert!(message_indexes(&[4, 2]).is_err());
        assert!(message_indexes(&[]).is_err());
    }
}
