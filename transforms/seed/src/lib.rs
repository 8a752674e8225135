//! `seed`: the seed tutorial's article records into collection `topic_0`.
//!
//! Input: `{"id": 0, "title": "...", "title_vector": [8 floats], "link": "..."}`,
//! as JSON or as Avro (which the host decodes and hands over typed).
//! The record is read straight into typed fields, and the vector's floats
//! are neither parsed nor printed here: from JSON it goes out as the text it
//! arrived in (`float-vector-json`), which the host checks natively (a JSON
//! array of exactly `dim` numbers an f32 can hold) and writes as it is; from
//! Avro it goes out as the floats it arrived as. Parsing it to f32 here and
//! printing it again in the host cost most of a 768-dim record's time.
use kmv_guest::{Config, Outcome, RawVector, Record, Row, Transform, Value, export_transform};

/// One article of the seed tutorial, borrowed from the record.
#[derive(Debug, serde::Deserialize)]
struct Article<'a> {
    id: i64,
    title: String,
    #[serde(borrow)]
    title_vector: RawVector<'a>,
    link: String,
}

/// Turns seed articles into rows of `topic_0`.
pub struct Seed;

impl Transform for Seed {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Seed)
    }

    fn process(&mut self, record: Record) -> Outcome {
        match record.json_borrowed::<Article>() {
            Ok(a) => Row::new()
                .with("id", a.id)
                .with("title", a.title)
                .with("title_vector", Value::from(a.title_vector))
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
            Some(&Value::FloatVectorJson("[0.5, 1]".into()))
        );
        let out = t.process(Record::from_value(br#"{"id": 3}"#));
        assert!(matches!(out, Outcome::Error(r) if r.contains("missing field `title`")));
    }

    /// An Avro article as the host hands it over: the same row, the vector
    /// as its floats; a bad one fails with the JSON path's reason.
    #[test]
    fn decoded_article_becomes_the_same_row() {
        #[derive(serde::Serialize)]
        struct Avro {
            id: i64,
            title: String,
            title_vector: Vec<f32>,
            link: String,
        }
        let mut t = Seed::init(Config::default()).unwrap();
        let article = Avro {
            id: 3,
            title: "t".into(),
            title_vector: vec![0.1, 1.0],
            link: "l".into(),
        };
        let Outcome::Rows(rows) = t.process(Record::from_decoded(&article)) else {
            panic!("expected rows")
        };
        let row = Row::from(rows[0].clone());
        assert_eq!(row.field_names(), ["id", "title", "title_vector", "link"]);
        assert_eq!(
            row.get("title_vector"),
            Some(&Value::FloatVector(vec![0.1, 1.0]))
        );
        #[derive(serde::Serialize)]
        struct Partial {
            id: i64,
        }
        let out = t.process(Record::from_decoded(&Partial { id: 3 }));
        assert!(
            matches!(&out, Outcome::Error(r) if r.contains("missing field `title`")),
            "{out:?}"
        );
    }
}
