//! Decoding in the guest, for the `formats` bench: the seed articles as
//! Confluent-framed Avro (a zero byte, the 4-byte schema id, the datum),
//! handed over as consumed (`[source] value_format = "raw"`), decoded here
//! with apache-avro (the Rust library the host reads schemas with) against
//! the schema given in `[transform.config] schema`, and turned into the seed
//! transform's row. What the host's decode plus typed hand-over is weighed
//! against; not a transform to use (one schema, no registry: the guest has no
//! network).
use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use kmv_guest::{Config, Outcome, Record, Row, Transform, Value, export_transform};

/// The writer schema, from the configuration.
pub struct AvroInGuest {
    schema: Schema,
}

impl Transform for AvroInGuest {
    fn init(config: Config) -> Result<Self, String> {
        let text = config
            .get("schema")
            .and_then(|s| s.as_str())
            .ok_or("[transform.config] needs schema = \"<the Avro schema as JSON text>\"")?;
        let schema = Schema::parse_str(text).map_err(|e| format!("schema: {e}"))?;
        Ok(AvroInGuest { schema })
    }

    fn process(&mut self, record: Record) -> Outcome {
        match self.article(&record) {
            Ok(row) => row.into(),
            Err(reason) => Outcome::Error(reason),
        }
    }
}

impl AvroInGuest {
    fn article(&self, record: &Record) -> Result<Row, String> {
        let bytes = record.value.as_deref().ok_or("a tombstone")?;
        let mut datum = match bytes {
            [0, _, _, _, _, rest @ ..] => rest,
            _ => return Err("not in the Confluent wire format".into()),
        };
        let value = apache_avro::from_avro_datum(&self.schema, &mut datum, None)
            .map_err(|e| format!("the value does not match the schema: {e}"))?;
        let Avro::Record(fields) = value else {
            return Err("not a record".into());
        };
        let mut row = Row::new();
        for (name, v) in fields {
            let value = match v {
                Avro::Long(i) => Value::Int64(i),
                Avro::String(s) => Value::Varchar(s),
                Avro::Array(items) => Value::FloatVector(
                    items
                        .into_iter()
                        .map(|x| match x {
                            Avro::Float(f) => Ok(f),
                            other => Err(format!("`{name}`: not a float: {other:?}")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(format!("`{name}`: unexpected {other:?}")),
            };
            row = row.with(&name, value);
        }
        Ok(row)
    }
}

export_transform!(AvroInGuest);
