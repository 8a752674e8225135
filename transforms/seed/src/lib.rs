//! `seed`: the seed tutorial's article records into collection `topic_0`.
//!
//! Input: `{"id": 0, "title": "...", "title_vector": [8 floats], "link": "..."}`.
//! The record is parsed straight into typed fields, and the vector goes out as
//! a `float-vector`, so no float is printed again inside the sandbox.
use kmv_guest::{Config, Outcome, Record, Row, Transform, export_transform};

/// One article of the seed tutorial.
#[derive(Debug, serde::Deserialize)]
struct Article {
    id: i64,
    title: String,
    title_vector: Vec<f32>,
    link: String,
}

/// Turns seed articles into rows of `topic_0`.
pub struct Seed;

impl Transform for Seed {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Seed)
    }

    fn process(&mut self, record: Record) -> Outcome {
        match record.json::<Article>() {
            Ok(a) => Row::new()
                .with("id", a.id)
                .with("title", a.title)
                .with("title_vector", a.title_vector)
                .with("link", a.link)
                .into(),
            Err(reason) => Outcome::Error(reason),
        }
    }
}

export_transform!(Seed);

#[cfg(test)]
mod tests {
    use super::*;
    use kmv_guest::Value;

    #[test]
    fn article_becomes_typed_row() {
        let mut t = Seed::init(Config::default()).unwrap();
        let out = t.process(Record::from_value(
            br#"{"id": 3, "title": "t", "title_vector": [0.5, 1], "link": "l"}"#,
        ));
        let Outcome::Rows(rows) = out else {
            panic!("{out:?}")
        };
        let row = Row::from(rows[0].clone());
        assert_eq!(
            row.get("title_vector"),
            Some(&Value::FloatVector(vec![0.5, 1.0]))
        );
        let out = t.process(Record::from_value(br#"{"id": 3}"#));
        assert!(matches!(out, Outcome::Error(r) if r.contains("missing field `title`")));
    }
}
