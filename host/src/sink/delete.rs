//! Deletes by primary key: request bodies of at most `batch_max_rows` keys,
//! and what Milvus answers.
//!
//! Both REST v2 (`POST /v2/vectordb/entities/delete`) and REST v1 (`POST
//! /v1/vector/delete`, Milvus 2.3) take a `filter` expression, written here
//! as `<primary> in [k1, k2, ...]`. (v1's other form, `"id": [..]`, writes
//! VarChar keys without quotes and fails with 65535: v2.3.4 handler_v1.go
//! `delete`, checked against a real 2.3.5.) Deleting a key that is not there
//! is a success, so a replayed delete is harmless. v1 has no partitions.

use super::answer::Answer;
use super::batch::{BatchBody, BodyKind, write_target};
use super::client::MilvusSink;
use super::encode::PrimaryKey;
use super::error::{WriteError, WriteOk};
use super::request_builder::Endpoint;
use super::{MAX_REQUEST_BYTES, RestApi};
use bytes::Bytes;
use std::time::Duration;

impl MilvusSink {
    /// How many keys from `keys[start]` on go in one delete request: at
    /// most `batch_max_rows`, and no more than fit in `batch_max_bytes`
    /// (at least one).
    pub(super) fn delete_batch_len<T>(
        &self,
        partition: Option<&str>,
        keys: &[(PrimaryKey, T)],
        start: usize,
    ) -> usize {
        let head = 128 + partition.map_or(0, str::len) + self.schema().name.len();
        let max_bytes = self.batch_max_bytes.min(MAX_REQUEST_BYTES);
        let mut bytes = head;
        let mut taken = 0;
        for (key, _) in &keys[start..] {
            // A key, its quotes and escapes (at most 6 bytes per char), a comma.
            let len = match key {
                PrimaryKey::Int(_) => 21,
                PrimaryKey::Str(s) => 2 * (s.len() * 6 + 2) + 1,
            };
            if taken > 0 && (taken >= self.batch_max_rows || bytes + len > max_bytes) {
                break;
            }
            bytes += len;
            taken += 1;
        }
        taken
    }

    /// The delete request body for the keys `keys[i]`, `i` in `idx`.
    pub(super) fn delete_body<T>(
        &self,
        partition: Option<&str>,
        keys: &[(PrimaryKey, T)],
        idx: &[usize],
    ) -> BatchBody {
        let schema = self.schema();
        let keys = idx.iter().map(|&i| &keys[i].0);
        let mut out = Vec::with_capacity(64 + 24 * idx.len());
        out.push(b'{');
        write_target(
            &mut out,
            &schema.name,
            self.endpoint.database.as_deref(),
            partition,
        );
        out.extend_from_slice(b",\"filter\":");
        let filter = in_filter(&schema.primary, keys);
        serde_json::to_writer(&mut out, &filter).expect("writing to a Vec cannot fail");
        out.push(b'}');
        BatchBody::new(Bytes::from(out), idx.len(), BodyKind::Delete)
    }

    /// Turns the answer to a delete into an outcome.
    pub(super) fn delete_answer(
        &self,
        status: u16,
        body: &[u8],
        keys_sent: usize,
        retry_after: Option<Duration>,
    ) -> Result<WriteOk, WriteError> {
        let answer = Answer::read(status, body, self.endpoint.token.as_ref());
        if !answer.is_success(self.api()) {
            return Err(self.failed_answer(status, answer, retry_after));
        }
        Ok(WriteOk {
            rows: keys_sent,
            ids: Vec::new(),
        })
    }
}

/// `primary in [k1,k2]`: Int64 keys as numbers, VarChar keys as
/// double-quoted strings with JSON's escapes, which Milvus's expression
/// parser reads back: planparserv2 `convertEscapeSingle` then Go's
/// `strconv.Unquote` (utils.go :471-510 at v2.3.4, the same logic through
/// v3.0.0; checked on a real 2.3.5 with quotes, backslashes, control
/// characters, U+2028 and emoji). serde_json never writes the escapes Go
/// refuses (`\/`, surrogate pairs). i64::MIN is written
/// `-9223372036854775807-1`: the parser reads the number before applying
/// the minus, and 9223372036854775808 does not fit.
pub(super) fn in_filter<'a>(primary: &str, keys: impl Iterator<Item = &'a PrimaryKey>) -> String {
    let mut out = Vec::new();
    out.extend_from_slice(primary.as_bytes());
    out.extend_from_slice(b" in ");
    write_key_list(&mut out, keys);
    String::from_utf8(out).expect("JSON text is UTF-8")
}

fn write_key_list<'a>(out: &mut Vec<u8>, keys: impl Iterator<Item = &'a PrimaryKey>) {
    out.push(b'[');
    for (i, key) in keys.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match key {
            PrimaryKey::Int(i64::MIN) => {
                out.extend_from_slice(b"-9223372036854775807-1");
                Ok(())
            }
            PrimaryKey::Int(k) => serde_json::to_writer(&mut *out, k),
            PrimaryKey::Str(k) => serde_json::to_writer(&mut *out, k),
        }
        .expect("writing to a Vec cannot fail");
    }
    out.push(b']');
}

impl Endpoint {
    /// v2: `POST /v2/vectordb/entities/delete`; v1: `POST /v1/vector/delete`.
    pub(crate) fn delete_request(
        &self,
        api: RestApi,
        body: Bytes,
    ) -> Result<reqwest::Request, String> {
        let path = match api {
            RestApi::V2 => "/v2/vectordb/entities/delete",
            RestApi::V1 => "/v1/vector/delete",
        };
        self.post(path, api, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_string_keys_with_json_escapes() {
        let keys = [
            PrimaryKey::Int(1),
            PrimaryKey::Int(-7),
            PrimaryKey::Int(i64::MIN),
        ];
        assert_eq!(
            in_filter("id", keys.iter()),
            "id in [1,-7,-9223372036854775807-1]"
        );
        let keys = [
            PrimaryKey::Str("a\"b".into()),
            PrimaryKey::Str("c\\d\ne".into()),
            PrimaryKey::Str("é".into()),
        ];
        assert_eq!(
            in_filter("pk", keys.iter()),
            r#"pk in ["a\"b","c\\d\ne","é"]"#
        );
    }
}
