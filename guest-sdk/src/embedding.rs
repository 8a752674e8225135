//! "Embed field X into field Y" over a whole batch, with one host call.

use crate::{Action, Field, Outcome, Row, Value};

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

/// [`embed_field`] for change data: embeds the text field `from` of each
/// row to write into the float-vector field `into`, in ONE host call for
/// the batch, unless the row already has a vector for the same text.
///
/// Each item of `batch` is a record's outcome and the `before` image of its
/// row (`None` for an insert, a snapshot read, or a record that is not a
/// change event), in the same shape as the row (fields named alike). Every
/// row of an outcome is looked at, whether in [`Outcome::Rows`] or in a
/// [`crate::Change`] of [`Outcome::Changes`]; deletes, skips and errors pass
/// through unchanged.
///
/// **The rule.** A row is written as it is, without an embedding call, when
/// all three hold:
/// 1. the record has a `before` image,
/// 2. the row's `from` text equals the `before` image's `from` text, and
/// 3. the row already carries the field `into`, not null (the source table
///    stores the vector, so the `after` image brings it along).
///
/// Otherwise `from` is embedded and `into` is set (replaced) with the
/// vector. So an update that leaves the text alone is not embedded again,
/// and a row is never written without its vector: when the table does not
/// store the vector, every write embeds, because an upsert replaces the
/// whole entity. A row to embed whose `from` is missing or not text fails
/// its record with a reason; when the embedder fails, every record with a
/// row to embed fails with the reason and the others go on.
///
/// ```
/// use kmv_guest::{Outcome, Record, Row, Value, debezium, embed_changed_field_with};
///
/// let update = |before: &str, after: &str| {
///     Record::from_value(format!(
///         r#"{{"op": "u", "before": {before}, "after": {after}, "source": {{}}}}"#
///     ).as_bytes())
/// };
/// let records = [
///     // The title changed: embedded again.
///     update(r#"{"id": 1, "title": "Hi", "v": [1]}"#, r#"{"id": 1, "title": "Hello", "v": [1]}"#),
///     // Only the link changed and the vector came along: written as it is.
///     update(r#"{"id": 2, "title": "Hi", "link": "a", "v": [2]}"#,
///            r#"{"id": 2, "title": "Hi", "link": "b", "v": [2]}"#),
/// ];
/// let batch = records
///     .iter()
///     .map(|r| match debezium::Event::read(r) {
///         Ok(event) => (event.changes("id"), event.before_row()),
///         Err(reason) => (Outcome::Error(reason), None),
///     })
///     .collect();
/// let out = embed_changed_field_with("title", "v", batch, |texts| {
///     assert_eq!(texts, ["Hello"]);
///     Ok(vec![vec![9.0]])
/// });
/// let Outcome::Changes(changes) = &out[0] else { panic!() };
/// let kmv_guest::Action::Row(row) = &changes[0].action else { panic!() };
/// assert_eq!(Row::from(row.clone()).get("v"), Some(&Value::FloatVector(vec![9.0])));
/// ```
pub fn embed_changed_field(
    embedder: &str,
    from: &str,
    into: &str,
    batch: Vec<(Outcome, Option<Row>)>,
) -> Vec<Outcome> {
    embed_changed_field_with(from, into, batch, |texts| crate::embed(embedder, texts))
}

/// [`embed_changed_field`] with the embedding function given: for tests of
/// a transform's logic outside kmv-host.
pub fn embed_changed_field_with(
    from: &str,
    into: &str,
    batch: Vec<(Outcome, Option<Row>)>,
    embed: impl FnOnce(&[String]) -> Result<Vec<Vec<f32>>, String>,
) -> Vec<Outcome> {
    // First pass: the texts to embed, and how many each outcome needs.
    let mut texts = Vec::new();
    let mut prepared = Vec::with_capacity(batch.len());
    for (mut outcome, before) in batch {
        let start = texts.len();
        let mut problem = None;
        for fields in rows_mut(&mut outcome) {
            if keeps_its_vector(fields, before.as_ref(), from, into) {
                continue;
            }
            match field(fields, from) {
                Some(Value::Varchar(text)) => texts.push(text.clone()),
                Some(other) => {
                    problem.get_or_insert(format!(
                        "field `{from}` is {}, but only text can be embedded",
                        other.kind()
                    ));
                }
                None => {
                    problem.get_or_insert(format!("field `{from}` is missing: nothing to embed"));
                }
            }
        }
        match problem {
            Some(reason) => {
                texts.truncate(start);
                prepared.push((Outcome::Error(reason), None, 0));
            }
            None => prepared.push((outcome, before, texts.len() - start)),
        }
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
    // Second pass: the vectors into the rows that needed them, in order.
    let mut vectors = vectors
        .map(Vec::into_iter)
        .map_err(|reason| format!("embedding `{from}`: {reason}"));
    prepared
        .into_iter()
        .map(|(mut outcome, before, needed)| match &mut vectors {
            _ if needed == 0 => outcome,
            Err(reason) => Outcome::Error(reason.clone()),
            Ok(vectors) => {
                for fields in rows_mut(&mut outcome) {
                    if !keeps_its_vector(fields, before.as_ref(), from, into) {
                        let vector = vectors.next().unwrap_or_default();
                        set(fields, into, Value::FloatVector(vector));
                    }
                }
                outcome
            }
        })
        .collect()
}

/// The rule of [`embed_changed_field`]: a `before` image with the same text,
/// and a vector in the row.
fn keeps_its_vector(fields: &[Field], before: Option<&Row>, from: &str, into: &str) -> bool {
    let carries_vector = !matches!(field(fields, into), None | Some(Value::Null));
    let same_text = before.is_some_and(|before| {
        matches!(
            (before.get(from), field(fields, from)),
            (Some(Value::Varchar(old)), Some(Value::Varchar(new))) if old == new
        )
    });
    carries_vector && same_text
}

/// Every row an outcome writes.
fn rows_mut(outcome: &mut Outcome) -> Vec<&mut Vec<Field>> {
    match outcome {
        Outcome::Rows(rows) => rows.iter_mut().collect(),
        Outcome::Changes(changes) => changes
            .iter_mut()
            .filter_map(|c| match &mut c.action {
                Action::Row(row) => Some(row),
                Action::Delete(_) => None,
            })
            .collect(),
        Outcome::Skip | Outcome::Error(_) => Vec::new(),
    }
}

fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a Value> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

fn set(fields: &mut Vec<Field>, name: &str, value: Value) {
    match fields.iter_mut().find(|f| f.name == name) {
        Some(f) => f.value = value,
        None => fields.push(Field {
            name: name.to_string(),
            value,
        }),
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

    fn update(before: Option<Row>, after: Row) -> (Outcome, Option<Row>) {
        (Outcome::from(crate::Change::row(after).to("c")), before)
    }

    fn vector_of(outcome: &Outcome) -> Option<Value> {
        match outcome {
            Outcome::Changes(c) => match &c[0].action {
                Action::Row(row) => Row::from(row.clone()).get("v").cloned(),
                Action::Delete(_) => None,
            },
            Outcome::Rows(rows) => Row::from(rows[0].clone()).get("v").cloned(),
            _ => None,
        }
    }

    #[test]
    fn changed_rows_embed_only_what_the_rule_says() {
        let article = |title: &str, v: Option<f32>| {
            let row = Row::new().with("id", 1).with("title", title);
            match v {
                Some(v) => row.with("v", vec![v]),
                None => row,
            }
        };
        let batch = vec![
            // 0: an insert: embedded, even though it carries a vector.
            update(None, article("a", Some(1.0))),
            // 1: same text, vector present: kept.
            update(Some(article("b", Some(2.0))), article("b", Some(2.0))),
            // 2: same text, no vector in the row (table without it): embedded.
            update(Some(article("c", None)), article("c", None)),
            // 3: text changed: embedded, the old vector replaced.
            update(Some(article("old", Some(3.0))), article("dd", Some(3.0))),
            // 4: a delete passes through.
            (Outcome::delete([4]), Some(article("e", Some(4.0)))),
            // 5: same text, vector null: embedded.
            update(
                Some(article("f", None)),
                article("f", None).with("v", Value::Null),
            ),
            // 6: plain rows with no before image: embedded.
            (Outcome::row(article("gggg", None)), None),
            // 7: the title is not text: fails, and takes no vector.
            update(None, Row::new().with("title", 7)),
            // 8: an error passes through.
            (Outcome::error("bad"), None),
        ];
        let mut calls = 0;
        let out = embed_changed_field_with("title", "v", batch, |texts| {
            calls += 1;
            assert_eq!(texts, ["a", "c", "dd", "f", "gggg"]);
            Ok(texts.iter().map(|t| vec![t.len() as f32 * 10.0]).collect())
        });
        assert_eq!(calls, 1);
        let v = |x: f32| Some(Value::FloatVector(vec![x]));
        assert_eq!(vector_of(&out[0]), v(10.0));
        assert_eq!(vector_of(&out[1]), v(2.0));
        assert_eq!(vector_of(&out[2]), v(10.0));
        assert_eq!(vector_of(&out[3]), v(20.0));
        assert_eq!(out[4], Outcome::delete([4]));
        assert_eq!(vector_of(&out[5]), v(10.0));
        assert_eq!(vector_of(&out[6]), v(40.0));
        assert_eq!(
            out[7],
            Outcome::Error("field `title` is an integer, but only text can be embedded".into())
        );
        assert_eq!(out[8], Outcome::error("bad"));
    }

    #[test]
    fn changed_rows_fail_with_the_embedder_but_kept_ones_go_on() {
        let row = Row::new().with("title", "t").with("v", vec![1.0]);
        let batch = vec![
            (Outcome::row(row.clone()), Some(row.clone())),
            (Outcome::row(row.clone()), None),
            (Outcome::delete(["k"]), None),
        ];
        let out = embed_changed_field_with("title", "v", batch, |_| Err("down".into()));
        assert_eq!(out[0], Outcome::row(row));
        assert_eq!(out[1], Outcome::Error("embedding `title`: down".into()));
        assert_eq!(out[2], Outcome::delete(["k"]));
        // Nothing to embed: no call at all.
        let out = embed_changed_field_with("title", "v", vec![(Outcome::Skip, None)], |_| {
            panic!("called")
        });
        assert_eq!(out, [Outcome::Skip]);
    }
}
