//! Encoded rows gathered into one write request body.
//!
//! The body `{"collectionName":..,"dbName":..,"data":[row,row,...]}` is built
//! as bytes while rows arrive, so a batch is never serialized twice. Each row
//! carries a caller tag (e.g. the Kafka record it came from) so the caller
//! knows which records a written batch holds.

use super::encode::{EncodedRow, PrimaryKey};
use bytes::Bytes;
use std::collections::HashSet;
use std::fmt;

/// What a request body asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Rows to insert or upsert (`data`).
    Rows,
    /// Primary keys to delete (`filter` on REST v2, `id` on REST v1).
    Delete,
}

/// A finished write request body.
#[derive(Clone)]
pub struct BatchBody {
    bytes: Bytes,
    rows: usize,
    kind: BodyKind,
}

impl BatchBody {
    /// A body of `kind` holding `rows` rows (or keys to delete).
    pub(crate) fn new(bytes: Bytes, rows: usize, kind: BodyKind) -> BatchBody {
        BatchBody { bytes, rows, kind }
    }

    /// Rows to write, or keys to delete.
    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// The JSON body.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The body, cheap to clone (for retries).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Rows in the body (keys, for a delete).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes in the body.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// No bytes (never true for a body from a [`BatchBuilder`]).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Never prints the body: it holds vectors.
impl fmt::Debug for BatchBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBody")
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A batch taken from a [`BatchBuilder`]: the body and the tags of its rows,
/// in row order.
#[derive(Debug)]
pub struct Batch<T> {
    /// The request body.
    pub body: BatchBody,
    /// One tag per row, in the order of the rows.
    pub tags: Vec<T>,
}

/// Why [`BatchBuilder::push`] did not take a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushRefusal {
    /// The batch has `batch_max_rows` rows or the row would take it past
    /// `batch_max_bytes`: write this batch, then push the row again.
    #[error("the batch is full")]
    Full,
    /// The row alone is bigger than a request may be; it can never be written.
    #[error(
        "row of {bytes} bytes does not fit in a request of at most {max} bytes (sink.batch_max_bytes)"
    )]
    TooLarge {
        /// The request size with only this row.
        bytes: usize,
        /// `batch_max_bytes`.
        max: usize,
    },
    /// The batch already holds a row with this primary key; Milvus 2.3 would
    /// store both. For an upsert, write this batch and push the row again
    /// (the later row wins); for an insert the row is a duplicate.
    #[error("primary key {key} is already in this batch")]
    DuplicateKey { key: PrimaryKey },
}

/// A row [`BatchBuilder::push`] did not take, handed back with its tag.
pub struct PushError<T> {
    pub refusal: PushRefusal,
    pub row: EncodedRow,
    pub tag: T,
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushError")
            .field("refusal", &self.refusal)
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.refusal, f)
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Builds one write request body at a time.
pub struct BatchBuilder<T> {
    head: Vec<u8>,
    buf: Vec<u8>,
    rows: usize,
    tags: Vec<T>,
    keys: HashSet<PrimaryKey>,
    max_rows: usize,
    max_bytes: usize,
}

impl<T> fmt::Debug for BatchBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("rows", &self.rows)
            .field("bytes", &self.bytes())
            .field("max_rows", &self.max_rows)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// `]}` closes the data array and the body.
const TAIL: &[u8] = b"]}";

impl<T> BatchBuilder<T> {
    /// A builder for bodies addressed to `collection` (in `database` when
    /// given), with at most `max_rows` rows and `max_bytes` bytes each.
    pub fn new(
        collection: &str,
        database: Option<&str>,
        max_rows: usize,
        max_bytes: usize,
    ) -> Self {
        Self::with_partition(collection, database, None, max_rows, max_bytes)
    }

    /// [`BatchBuilder::new`], for rows of `partition` when given (REST v2
    /// `partitionName`).
    pub fn with_partition(
        collection: &str,
        database: Option<&str>,
        partition: Option<&str>,
        max_rows: usize,
        max_bytes: usize,
    ) -> Self {
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(b"{");
        write_target(&mut head, collection, database, partition);
        head.extend_from_slice(b",\"data\":[");
        let mut buf = Vec::new();
        buf.extend_from_slice(&head);
        BatchBuilder {
            head,
            buf,
            rows: 0,
            tags: Vec::new(),
            keys: HashSet::new(),
            max_rows: max_rows.max(1),
            max_bytes,
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// No rows yet.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The body's size if it were taken now.
    pub fn bytes(&self) -> usize {
        self.buf.len() + TAIL.len()
    }

    /// The tags of the rows so far, in row order.
    pub fn tags(&self) -> &[T] {
        &self.tags
    }

    /// Whether a row of `row_len` bytes would take the batch past
    /// `batch_max_rows` or `batch_max_bytes`.
    pub fn would_exceed(&self, row_len: usize) -> bool {
        let comma = usize::from(self.rows > 0);
        self.rows + 1 > self.max_rows || self.bytes() + comma + row_len > self.max_bytes
    }

    /// Whether the batch holds a row with primary key `key`.
    pub fn contains_key(&self, key: &PrimaryKey) -> bool {
        self.keys.contains(key)
    }

    /// Adds a row. Refuses it, handing it back, when the batch is full, when
    /// the row can never fit, or when its primary key is already in the
    /// batch.
    pub fn push(&mut self, row: EncodedRow, tag: T) -> Result<(), PushError<T>> {
        let alone = self.head.len() + row.len() + TAIL.len();
        let refusal = if alone > self.max_bytes {
            Some(PushRefusal::TooLarge {
                bytes: alone,
                max: self.max_bytes,
            })
        } else if row.pk.as_ref().is_some_and(|k| self.keys.contains(k)) {
            Some(PushRefusal::DuplicateKey {
                key: row.pk.clone().expect("checked above"),
            })
        } else if self.would_exceed(row.len()) {
            Some(PushRefusal::Full)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Err(PushError { refusal, row, tag });
        }
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(&row.json);
        if let Some(pk) = row.pk {
            self.keys.insert(pk);
        }
        self.rows += 1;
        self.tags.push(tag);
        Ok(())
    }

    /// Takes the batch, leaving the builder empty; `None` when it has no rows.
    pub fn take(&mut self) -> Option<Batch<T>> {
        if self.rows == 0 {
            return None;
        }
        let mut next = Vec::with_capacity(self.buf.capacity());
        next.extend_from_slice(&self.head);
        let mut bytes = std::mem::replace(&mut self.buf, next);
        bytes.extend_from_slice(TAIL);
        let rows = std::mem::take(&mut self.rows);
        self.keys.clear();
        Some(Batch {
            body: BatchBody {
                bytes: Bytes::from(bytes),
                rows,
                kind: BodyKind::Rows,
            },
            tags: std::mem::take(&mut self.tags),
        })
    }
}

/// `"collectionName":..[,"dbName":..][,"partitionName":..]`, the start of
/// every write and delete body.
pub(crate) fn write_target(
    out: &mut Vec<u8>,
    collection: &str,
    database: Option<&str>,
    partition: Option<&str>,
) {
    let mut key = |name: &[u8], value: &str| {
        out.extend_from_slice(name);
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
    };
    key(b"\"collectionName\":", collection);
    if let Some(db) = database {
        key(b",\"dbName\":", db);
    }
    if let Some(p) = partition {
        key(b",\"partitionName\":", p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pk: i64, payload: &str) -> EncodedRow {
        EncodedRow {
            json: format!(r#"{{"id":{pk},"t":"{payload}"}}"#).into_bytes(),
            pk: Some(PrimaryKey::Int(pk)),
        }
    }

    #[test]
    fn body_is_built_incrementally() {
        let mut b = BatchBuilder::new("topic_0", Some("db1"), 10, 1024);
        assert!(b.take().is_none());
        let empty = b.bytes();
        assert_eq!(
            empty,
            r#"{"collectionName":"topic_0","dbName":"db1","data":[]}"#.len()
        );
        b.push(row(1, "a"), "r1").unwrap();
        b.push(row(2, "b"), "r2").unwrap();
        assert_eq!(b.len(), 2);
        let expected = r#"{"collectionName":"topic_0","dbName":"db1","data":[{"id":1,"t":"a"},{"id":2,"t":"b"}]}"#;
        assert_eq!(b.bytes(), expected.len());
        let batch = b.take().unwrap();
        assert_eq!(batch.body.as_bytes(), expected.as_bytes());
        assert_eq!(batch.body.rows(), 2);
        assert_eq!(batch.body.len(), expected.len());
        assert_eq!(batch.tags, vec!["r1", "r2"]);
        serde_json::from_slice::<serde_json::Value>(batch.body.as_bytes()).unwrap();
        // The builder starts over, keys included.
        assert!(b.is_empty());
        b.push(row(1, "again"), "r3").unwrap();
        assert_eq!(
            b.take().unwrap().body.as_bytes(),
            br#"{"collectionName":"topic_0","dbName":"db1","data":[{"id":1,"t":"again"}]}"#
        );
    }

    #[test]
    fn no_database_no_db_name() {
        let mut b = BatchBuilder::new("a\"b", None, 10, 1024);
        b.push(row(1, "x"), ()).unwrap();
        assert_eq!(
            b.take().unwrap().body.as_bytes(),
            br#"{"collectionName":"a\"b","data":[{"id":1,"t":"x"}]}"#
        );
    }

    #[test]
    fn limits_by_rows_and_bytes() {
        let mut b = BatchBuilder::new("c", None, 2, 1024);
        b.push(row(1, "a"), 1).unwrap();
        b.push(row(2, "b"), 2).unwrap();
        let e = b.push(row(3, "c"), 3).unwrap_err();
        assert_eq!(e.refusal, PushRefusal::Full);
        assert_eq!(e.tag, 3);
        assert_eq!(b.len(), 2);

        // Exactly at the byte limit is allowed; one byte over is not.
        let one = row(1, "a");
        let head = r#"{"collectionName":"c","data":["#.len();
        let max = head + one.len() + 1 + one.len() + 2;
        let mut b = BatchBuilder::new("c", None, 100, max);
        b.push(row(1, "a"), ()).unwrap();
        assert!(!b.would_exceed(one.len()));
        assert!(b.would_exceed(one.len() + 1));
        b.push(row(2, "b"), ()).unwrap();
        assert_eq!(b.bytes(), max);
        assert_eq!(
            b.push(row(3, "c"), ()).unwrap_err().refusal,
            PushRefusal::Full
        );
        assert_eq!(b.take().unwrap().body.len(), max);
    }

    #[test]
    fn a_row_too_big_for_any_batch() {
        let mut b = BatchBuilder::new("c", None, 100, 40);
        let e = b.push(row(1, &"x".repeat(40)), ()).unwrap_err();
        assert!(matches!(e.refusal, PushRefusal::TooLarge { max: 40, .. }));
        assert!(
            e.to_string()
                .ends_with("does not fit in a request of at most 40 bytes (sink.batch_max_bytes)")
        );
    }

    #[test]
    fn duplicate_keys_are_refused_naming_the_key() {
        let mut b = BatchBuilder::new("c", None, 100, 1024);
        b.push(row(7, "a"), "first").unwrap();
        assert!(b.contains_key(&PrimaryKey::Int(7)));
        let e = b.push(row(7, "b"), "second").unwrap_err();
        assert_eq!(
            e.refusal,
            PushRefusal::DuplicateKey {
                key: PrimaryKey::Int(7)
            }
        );
        assert_eq!(e.to_string(), "primary key 7 is already in this batch");
        assert_eq!(e.tag, "second");
        let s = EncodedRow {
            json: br#"{"id":"k"}"#.to_vec(),
            pk: Some(PrimaryKey::Str("k".into())),
        };
        b.push(s.clone(), "s1").unwrap();
        assert_eq!(
            b.push(s, "s2").unwrap_err().to_string(),
            "primary key \"k\" is already in this batch"
        );
        // Auto-id rows have no key and are never duplicates.
        let auto = EncodedRow {
            json: b"{}".to_vec(),
            pk: None,
        };
        b.push(auto.clone(), "x").unwrap();
        b.push(auto, "y").unwrap();
        assert_eq!(b.tags(), &["first", "s1", "x", "y"]);
    }

    #[test]
    fn debug_never_shows_rows() {
        let mut b = BatchBuilder::new("c", None, 100, 1024);
        b.push(row(1, "secret-ish"), ()).unwrap();
        assert!(!format!("{b:?}").contains("secret-ish"));
        let batch = b.take().unwrap();
        assert!(!format!("{batch:?}").contains("secret-ish"));
    }
}
