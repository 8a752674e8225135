//! `passthrough`: a JSON object becomes a row as it is, one field per key.
//!
//! Arrays of numbers become float vectors where the collection has a vector
//! field of that name (the host converts by the schema).
use kmv_guest::{Config, Outcome, Record, Transform, export_transform};

/// Writes each JSON object as a row.
pub struct Passthrough;

impl Transform for Passthrough {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Passthrough)
    }

    fn process(&mut self, record: Record) -> Outcome {
        record.json_row().into()
    }
}

export_transform!(Passthrough);

#[cfg(test)]
mod tests {
    use super::*;
    use kmv_guest::{Row, Value};

    #[test]
    fn object_becomes_row() {
        let mut t = Passthrough::init(Config::default()).unwrap();
        let out = t.process(Record::from_value(br#"{"id": 1, "v": [0.5, 1.5]}"#));
        let Outcome::Rows(rows) = out else {
            panic!("{out:?}")
        };
        let row = Row::from(rows[0].clone());
        assert_eq!(row.get("id"), Some(&Value::Int64(1)));
        let out = t.process(Record::from_value(b"[1]"));
        assert_eq!(
            out,
            Outcome::Error("the value is a JSON array, not an object".into())
        );
    }
}
