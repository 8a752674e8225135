//! "Embed field X into field Y" over a whole batch, with one host call.

use crate::{Outcome, Row, Value};

/// Embeds the text field `from` of every row into a new float-vector field
/// `into`, with the pipeline's embedder `embedder`, in ONE host call for the
/// whole batch; returns one [`Outcome`] per input, in order.
///
/// Each input is a row, or an error (for example a record that did not
/// parse) that is passed through as [`Outcome::Error`]. A row whose `from`
/// field is missing or not a string gets an error naming the field. When the
/// embedder fails (or is not configured), every row of the batch gets its
/// reason as an error, so the host can dead-letter them.
///
/// Use it from [`Transform::process_batch`](crate::Transform::process_batch),
/// so that all the records of one transform call are embedded together:
///
/// ```
/// use kmv_guest::{Config, Outcome, Record, Transform, embed_field, export_transform};
///
/// /// Parses JSON records and embeds `title` into `title_vector`.
/// struct EmbedTitle;
///
/// impl Transform for EmbedTitle {
///     fn init(_config: Config) -> Result<Self, String> {
///         Ok(EmbedTitle)
///     }
///
///     fn process(&mut self, record: Record) -> Outcome {
///         self.process_batch(vec![record]).remove(0)
///     }
///
///     fn process_batch(&mut self, records: Vec<Record>) -> Vec<Outcome> {
///         let rows = records.iter().map(Record::json_row).collect();
///         embed_field("minilm", "title", "title_vector", rows)
///     }
/// }
///
/// export_transform!(EmbedTitle);
///
/// // Outside kmv-host there is no embedder: every row gets the reason.
/// let mut t = EmbedTitle::init(Config::default()).unwrap();
/// let out = t.process_batch(vec![
///     Record::from_value(br#"{"id": 1, "title": "Hello"}"#),
///     Record::from_value(br#"{"id": 2}"#),
/// ]);
/// assert!(matches!(&out[0], Outcome::Error(r) if r.contains("minilm")));
/// assert!(matches!(&out[1], Outcome::Error(r) if r.contains("`title`")));
/// ```
pub fn embed_field(
    embedder: &str,
    from: &str,
    into: &str,
    rows: Vec<Result<Row, String>>,
) -> Vec<Outcome> {
    embed_field_with(from, into, rows, |texts| crate::embed(embedder, texts))
}

/// [`embed_field`] with the embedding function given: for tests of a
/// transform's logic outside kmv-host.
pub fn embed_field_with(
    from: &str,
    into: &str,
    rows: Vec<Result<Row, String>>,
    embed: impl FnOnce(&[String]) -> Result<Vec<Vec<f32>>, String>,
) -> Vec<Outcome> {
    let mut prepared: Vec<Result<Row, String>> = Vec::with_capacity(rows.len());
    let mut texts = Vec::new();
    for row in rows {
        prepared.push(row.and_then(|row| match row.get(from) {
            Some(Value::Varchar(text)) => {
                texts.push(text.clone());
                Ok(row)
            }
            Some(other) => Err(format!(
                "field `{from}` is {}, but only text can be embedded",
                other.kind()
            )),
            None => Err(format!("field `{from}` is missing: nothing to embed")),
        }));
    }
    let vectors = if texts.is_empty() {
        Ok(Vec::new())
    } else {
        embed(&texts).and_then(|v| {
            if v.len() == texts.len() {
                Ok(v)
            } else {
                Err(format!(
                    "the embedder returned {} vectors for {} texts",
                    v.len(),
                    texts.len()
                ))
            }
        })
    };
    match vectors {
        Ok(vectors) => {
            let mut vectors = vectors.into_iter();
            prepared
                .into_iter()
                .map(|row| match row {
                    Ok(row) => {
                        let vector = vectors.next().unwrap_or_default();
                        Outcome::row(row.with(into, vector))
                    }
                    Err(reason) => Outcome::Error(reason),
                })
                .collect()
        }
        Err(reason) => prepared
            .into_iter()
            .map(|row| match row {
                Ok(_) => Outcome::Error(format!("embedding `{from}`: {reason}")),
                Err(reason) => Outcome::Error(reason),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_for_the_batch_and_vectors_in_order() {
        let rows = vec![
            Ok(Row::new().with("id", 1i64).with("title", "a")),
            Err("bad json".to_string()),
            Ok(Row::new().with("id", 3i64)),
            Ok(Row::new().with("id", 4i64).with("title", "bbb")),
        ];
        let mut calls = 0;
        let out = embed_field_with("title", "v", rows, |texts| {
            calls += 1;
            assert_eq!(texts, ["a", "bbb"]);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        });
        assert_eq!(calls, 1);
        let Outcome::Rows(r) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            Row::from(r[0].clone()).get("v"),
            Some(&Value::FloatVector(vec![1.0]))
        );
        assert_eq!(out[1], Outcome::Error("bad json".into()));
        assert!(matches!(&out[2], Outcome::Error(r) if r.contains("`title` is missing")));
        let Outcome::Rows(r) = &out[3] else {
            panic!("{out:?}")
        };
        assert_eq!(
            Row::from(r[0].clone()).get("v"),
            Some(&Value::FloatVector(vec![3.0]))
        );
    }

    #[test]
    fn embedder_failure_fails_each_row_with_the_reason() {
        let rows = vec![
            Ok(Row::new().with("title", "a")),
            Ok(Row::new().with("title", "b")),
        ];
        let out = embed_field_with("title", "v", rows, |_| Err("no embedder `x`".into()));
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|o| matches!(o, Outcome::Error(r) if r.contains("no embedder `x`")))
        );
    }
}
