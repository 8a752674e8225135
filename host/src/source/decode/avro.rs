//! Avro binary (one datum, written with the registry's schema) straight to
//! the MessagePack the transform reads (`pack`), with the mapping Kafka users
//! expect: unions without the type wrapper, enums as their symbol, bytes and
//! fixed as base64, logical types as readable values (see [`Mapping`]). The schema comes from `apache-avro`; the
//! bytes are read here, strictly: a datum that ends early, leaves bytes over
//! or breaks a rule of the encoding is an error, never a guess.

use super::pack::Pack;
use super::{DecimalFormat, Mapping, TimestampFormat};
use crate::common::msgpack::to_json;
use apache_avro::schema::{Name, Namespace, Schema};
use std::collections::HashMap;

/// A writer schema, with the named types it and its references define.
#[derive(Debug)]
pub struct AvroSchema {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

/// Arrays and records nest at most this deep (a recursive schema cannot run
/// the stack out).
const MAX_DEPTH: usize = 128;

impl AvroSchema {
    /// Parses `text`, whose named types may come from `references` (the
    /// texts of the schemas it references, in dependency order).
    pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema, String> {
        // apache-avro 0.21 panics on some schemas a registry may hand out
        // (a named type with an invalid name referenced from a union, found
        // by fuzzing: schema.rs:272 unwraps); such a schema is refused.
        let parsed = std::panic::catch_unwind(|| {
            if references.is_empty() {
                Schema::parse_str(text).map(|s| (s, vec![]))
            } else {
                Schema::parse_str_with_list(text, references)
            }
        });
        let (schema, refs) = match parsed {
            Ok(parsed) => parsed.map_err(|e| e.to_string())?,
            Err(_) => {
                return Err(
                    "the Avro schema cannot be parsed (the Avro library failed on it)".into(),
                );
            }
        };
        let mut names = HashMap::new();
        for s in std::iter::once(&schema).chain(refs.iter()) {
            collect_names(s, &None, &mut names);
        }
        Ok(AvroSchema { schema, names })
    }

    /// Decodes one datum of this schema as MessagePack into `out`.
    pub fn to_pack(&self, datum: &[u8], mapping: Mapping, out: &mut Vec<u8>) -> Result<(), String> {
        let mut d = Datum {
            bytes: datum,
            pos: 0,
            names: &self.names,
            mapping,
            out: Pack::new(out),
        };
        d.value(&self.schema, &None, 0)?;
        if d.pos != datum.len() {
            return Err(format!(
                "{} bytes are left over after the value: the bytes do not match the schema",
                datum.len() - d.pos
            ));
        }
        Ok(())
    }

    /// Decodes one datum of this schema as JSON text into `out` (through
    /// its MessagePack: the same text either way).
    pub fn to_json(&self, datum: &[u8], mapping: Mapping, out: &mut Vec<u8>) -> Result<(), String> {
        let mut packed = Vec::with_capacity(datum.len() * 2);
        self.to_pack(datum, mapping, &mut packed)?;
        to_json(&packed, out)
    }
}

/// Every named type (record, enum, fixed) `schema` defines, by full name.
fn collect_names(schema: &Schema, ns: &Namespace, names: &mut HashMap<Name, Schema>) {
    match schema {
        Schema::Record(r) => {
            let full = r.name.fully_qualified_name(ns);
            let inner = full.namespace.clone();
            names.insert(full, schema.clone());
            for field in &r.fields {
                collect_names(&field.schema, &inner, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fully_qualified_name(ns), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fully_qualified_name(ns), schema.clone());
        }
        Schema::Array(a) => collect_names(&a.items, ns, names),
        Schema::Map(m) => collect_names(&m.types, ns, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, ns, names);
            }
        }
        Schema::Decimal(d) => collect_names(&d.inner, ns, names),
        _ => {}
    }
}

struct Datum<'a, 'o> {
    bytes: &'a [u8],
    pos: usize,
    names: &'a HashMap<Name, Schema>,
    mapping: Mapping,
    out: Pack<'o>,
}

impl<'a> Datum<'a, '_> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "the value ends early (needs {n} more bytes at byte {} of {}): the bytes do not match the schema",
                self.pos,
                self.bytes.len()
            ));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.take(1)?[0];
            if shift == 63 && b > 1 {
                break;
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(format!("a varint at byte {} is too long", self.pos))
    }

    fn int(&mut self) -> Result<i32, String> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("{v} is out of range for an Avro int"))
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative length {n}"))
    }

    fn sized(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.sized()?).map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    /// Blocks of an array or map: calls `item` for each element; the count.
    fn blocks(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut index = 0;
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(index);
            }
            let count = if count < 0 {
                let _byte_size = self.long()?;
                count.checked_neg().ok_or("bad block count")?
            } else {
                count
            };
            for _ in 0..count {
                item(self)?;
                index += 1;
            }
        }
    }

    fn value(&mut self, schema: &Schema, ns: &Namespace, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("the value nests deeper than {MAX_DEPTH} levels"));
        }
        match schema {
            Schema::Array(_)
            | Schema::Map(_)
            | Schema::Union(_)
            | Schema::Record(_)
            | Schema::Ref { .. } => self.complex(schema, ns, depth),
            Schema::Decimal(_) | Schema::BigDecimal | Schema::Uuid | Schema::Duration => {
                self.logical(schema)
            }
            Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::LocalTimestampMillis
            | Schema::TimestampMicros
            | Schema::LocalTimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampNanos => self.temporal(schema),
            _ => self.primitive(schema),
        }
    }

    /// Null, booleans, numbers, bytes, strings, enums and fixed.
    fn primitive(&mut self, schema: &Schema) -> Result<(), String> {
        match schema {
            Schema::Null => self.out.nil(),
            Schema::Boolean => match self.take(1)?[0] {
                0 => self.out.bool(false),
                1 => self.out.bool(true),
                b => return Err(format!("{b} is not a boolean (0 or 1)")),
            },
            Schema::Int => {
                let v = self.int()?;
                self.out.int(v.into())
            }
            Schema::Long => {
                let v = self.long()?;
                self.out.int(v)
            }
            Schema::Float => {
                let v = f32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default());
                self.out.f32(v)
            }
            Schema::Double => {
                let v = f64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default());
                self.out.f64(v)
            }
            Schema::Bytes => {
                let b = self.sized()?;
                self.out.base64(b)
            }
            Schema::String => {
                let s = self.str()?;
                self.out.str(s)
            }
            Schema::Enum(e) => {
                let i = self.long()?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| format!("enum {} has no symbol {i}", e.name.name))?;
                self.out.str(symbol)
            }
            Schema::Fixed(f) => {
                let b = self.take(f.size)?;
                self.out.base64(b)
            }
            _ => unreachable!("`value` sends only primitive schemas here"),
        }
        Ok(())
    }

    /// Arrays, maps, unions, records and named references.
    fn complex(&mut self, schema: &Schema, ns: &Namespace, depth: usize) -> Result<(), String> {
        match schema {
            Schema::Array(array) => {
                let open = self.out.open_array();
                let count = self.blocks(|d| d.value(&array.items, ns, depth + 1))?;
                self.out.close(open, count)?;
            }
            Schema::Map(map) => {
                let open = self.out.open_map();
                let count = self.blocks(|d| {
                    let key = d.str()?;
                    d.out.str(key);
                    d.value(&map.types, ns, depth + 1)
                })?;
                self.out.close(open, count)?;
            }
            Schema::Union(union) => {
                let i = self.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| union.variants().get(i))
                    .ok_or_else(|| {
                        format!(
                            "union branch {i} does not exist (the union has {})",
                            union.variants().len()
                        )
                    })?;
                self.value(branch, ns, depth + 1)?
            }
            Schema::Record(record) => {
                let inner = record.name.namespace.clone().or_else(|| ns.clone());
                self.out.map(record.fields.len());
                for field in &record.fields {
                    self.out.str(&field.name);
                    self.value(&field.schema, &inner, depth + 1)?;
                }
            }
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                let named = self.names.get(&full).ok_or_else(|| {
                    format!("the schema names an unknown type {}", full.fullname(None))
                })?;
                self.value(named, ns, depth + 1)?
            }
            _ => unreachable!("`value` sends only complex schemas here"),
        }
        Ok(())
    }

    /// Decimals, UUIDs and durations.
    fn logical(&mut self, schema: &Schema) -> Result<(), String> {
        match schema {
            Schema::Decimal(decimal) => {
                let bytes = match &*decimal.inner {
                    Schema::Fixed(f) => self.take(f.size)?,
                    _ => self.sized()?,
                };
                let text = decimal_text(bytes, decimal.scale)?;
                match self.mapping.decimals {
                    DecimalFormat::String => self.out.str(&text),
                    // The number a JSON reader takes the text for.
                    DecimalFormat::Number => match text.parse::<f64>() {
                        Ok(v) => self.out.f64(v),
                        Err(e) => return Err(format!("decimal {text}: {e}")),
                    },
                }
            }
            Schema::BigDecimal => {
                return Err("the big-decimal logical type is not supported".into());
            }
            Schema::Uuid => {
                let b = self.sized()?;
                match b.len() {
                    16 => {
                        let h = hex::encode(b);
                        let text = format!(
                            "{}-{}-{}-{}-{}",
                            &h[..8],
                            &h[8..12],
                            &h[12..16],
                            &h[16..20],
                            &h[20..]
                        );
                        self.out.str(&text)
                    }
                    _ => {
                        let s = std::str::from_utf8(b)
                            .map_err(|e| format!("a uuid is not UTF-8: {e}"))?;
                        self.out.str(s)
                    }
                }
            }
            Schema::Duration => {
                let b = self.take(12)?;
                let part = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                self.out.map(3);
                for (name, at) in [("months", 0), ("days", 4), ("milliseconds", 8)] {
                    self.out.str(name);
                    self.out.uint(part(at).into());
                }
            }
            _ => unreachable!("`value` sends only logical schemas here"),
        }
        Ok(())
    }

    /// Dates, times and timestamps, as text or numbers (`timestamps`).
    fn temporal(&mut self, schema: &Schema) -> Result<(), String> {
        let numbers = self.mapping.timestamps == TimestampFormat::Number;
        match schema {
            Schema::Date => {
                let days = self.int()?;
                if numbers {
                    self.out.int(days.into())
                } else {
                    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                        .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(days.into())))
                        .ok_or_else(|| format!("date {days} is out of range"))?;
                    self.out.str(&date.format("%Y-%m-%d").to_string())
                }
            }
            Schema::TimeMillis => {
                let ms = self.int()?;
                self.time(i64::from(ms) * 1_000_000, 3, numbers, i64::from(ms))?
            }
            Schema::TimeMicros => {
                let us = self.long()?;
                self.time(us.saturating_mul(1000), 6, numbers, us)?
            }
            Schema::TimestampMillis | Schema::LocalTimestampMillis => {
                let v = self.long()?;
                let local = matches!(schema, Schema::LocalTimestampMillis);
                self.timestamp(
                    chrono::DateTime::from_timestamp_millis(v),
                    3,
                    local,
                    numbers,
                    v,
                )?
            }
            Schema::TimestampMicros | Schema::LocalTimestampMicros => {
                let v = self.long()?;
                let local = matches!(schema, Schema::LocalTimestampMicros);
                self.timestamp(
                    chrono::DateTime::from_timestamp_micros(v),
                    6,
                    local,
                    numbers,
                    v,
                )?
            }
            Schema::TimestampNanos | Schema::LocalTimestampNanos => {
                let v = self.long()?;
                let local = matches!(schema, Schema::LocalTimestampNanos);
                let at = Some(chrono::DateTime::from_timestamp_nanos(v));
                self.timestamp(at, 9, local, numbers, v)?
            }
            _ => unreachable!("`value` sends only temporal schemas here"),
        }
        Ok(())
    }

    fn time(&mut self, nanos: i64, digits: usize, numbers: bool, raw: i64) -> Result<(), String> {
        if numbers {
            self.out.int(raw);
            return Ok(());
        }
        let secs = u32::try_from(nanos.div_euclid(1_000_000_000)).ok();
        let frac = nanos.rem_euclid(1_000_000_000) as u32;
        let t = secs
            .and_then(|s| chrono::NaiveTime::from_num_seconds_from_midnight_opt(s, frac))
            .ok_or_else(|| format!("time of day {raw} is out of range"))?;
        let text = format!(
            "{}.{:0width$}",
            t.format("%H:%M:%S"),
            frac / 10u32.pow(9 - digits as u32),
            width = digits
        );
        self.out.str(&text);
        Ok(())
    }

    fn timestamp(
        &mut self,
        at: Option<chrono::DateTime<chrono::Utc>>,
        digits: usize,
        local: bool,
        numbers: bool,
        raw: i64,
    ) -> Result<(), String> {
        if numbers {
            self.out.int(raw);
            return Ok(());
        }
        let at = at.ok_or_else(|| format!("timestamp {raw} is out of range"))?;
        let frac = at.timestamp_subsec_nanos() / 10u32.pow(9 - digits as u32);
        let text = format!(
            "{}.{frac:0width$}{}",
            at.format("%Y-%m-%dT%H:%M:%S"),
            if local { "" } else { "Z" },
            width = digits
        );
        self.out.str(&text);
        Ok(())
    }
}

/// A decimal's two's-complement big-endian unscaled bytes as text with
/// `scale` digits after the point.
fn decimal_text(bytes: &[u8], scale: usize) -> Result<String, String> {
    if bytes.len() > 16 {
        return Err(format!(
            "a decimal of {} bytes is wider than 128 bits",
            bytes.len()
        ));
    }
    let mut unscaled: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for &b in bytes {
        unscaled = (unscaled << 8) | i128::from(b);
    }
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return Ok(format!("{sign}{digits}"));
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Ok(format!("{sign}{int}.{frac}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;

    fn mapping() -> Mapping {
        Mapping::default()
    }

    fn json(schema: &AvroSchema, datum: &[u8], mapping: Mapping) -> Result<String, String> {
        let mut out = Vec::new();
        schema.to_json(datum, mapping, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// Encodes `value` with apache-avro's own writer (a second implementation).
    fn encode(schema: &str, value: Value) -> (AvroSchema, Vec<u8>) {
        let parsed = Schema::parse_str(schema).unwrap();
        let bytes = apache_avro::to_avro_datum(&parsed, value).unwrap();
        (AvroSchema::parse(schema, &[]).unwrap(), bytes)
    }

    #[test]
    fn floats_print_as_serde_json_prints_them() {
        let schema = r#"{"type":"record","name":"R","fields":[
            {"name":"f","type":{"type":"array","items":"float"}},
            {"name":"d","type":{"type":"array","items":"double"}}]}"#;
        let floats = [0.1f32, -2.5, 1e-7, 3.4028235e38, 1.0, 0.0, -0.0, 123_456.79];
        let doubles = [
            0.1f64,
            -2.5,
            1e-300,
            1.7976931348623157e308,
            1.0,
            1e21,
            5e-324,
        ];
        let (parsed, bytes) = encode(
            schema,
            Value::Record(vec![
                (
                    "f".into(),
                    Value::Array(floats.iter().map(|&x| Value::Float(x)).collect()),
                ),
                (
                    "d".into(),
                    Value::Array(doubles.iter().map(|&x| Value::Double(x)).collect()),
                ),
            ]),
        );
        // serde_json prints an f32 at f32's shortest (not widened to f64).
        let expected = format!(
            r#"{{"f":{},"d":{}}}"#,
            serde_json::to_string(&floats).unwrap(),
            serde_json::to_string(&doubles).unwrap()
        );
        assert_eq!(json(&parsed, &bytes, mapping()).unwrap(), expected);
    }

    #[test]
    fn the_seed_article_as_json() {
        let schema = r#"{"type":"record","name":"Article","namespace":"kmv.seed","fields":[
            {"name":"id","type":"long"},{"name":"title","type":"string"},
            {"name":"title_vector","type":{"type":"array","items":"float"}},
            {"name":"link","type":"string"}]}"#;
        let (s, bytes) = encode(
            schema,
            Value::Record(vec![
                ("id".into(), Value::Long(7)),
                ("title".into(), Value::String("a \"b\"".into())),
                (
                    "title_vector".into(),
                    Value::Array(vec![Value::Float(0.041732933), Value::Float(-2.5)]),
                ),
                ("link".into(), Value::String("l".into())),
            ]),
        );
        assert_eq!(
            json(&s, &bytes, mapping()).unwrap(),
            r#"{"id":7,"title":"a \"b\"","title_vector":[0.041732933,-2.5],"link":"l"}"#
        );
        // Cut short, or with a byte over: an error, not a guess.
        assert!(
            json(&s, &bytes[..bytes.len() - 1], mapping())
                .unwrap_err()
                .contains("ends early")
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            json(&s, &longer, mapping())
                .unwrap_err()
                .contains("left over")
        );
    }

    #[test]
    fn unions_enums_bytes_maps_without_wrappers() {
        let schema = r#"{"type":"record","name":"R","fields":[
            {"name":"u","type":["null","string"]},
            {"name":"n","type":["null","long"]},
            {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
            {"name":"b","type":"bytes"},
            {"name":"f","type":{"type":"fixed","name":"F","size":2}},
            {"name":"m","type":{"type":"map","values":"double"}},
            {"name":"again","type":"Color"}]}"#;
        let (s, bytes) = encode(
            schema,
            Value::Record(vec![
                (
                    "u".into(),
                    Value::Union(1, Box::new(Value::String("x".into()))),
                ),
                ("n".into(), Value::Union(0, Box::new(Value::Null))),
                ("e".into(), Value::Enum(1, "GREEN".into())),
                ("b".into(), Value::Bytes(vec![0xff, 0])),
                ("f".into(), Value::Fixed(2, vec![1, 2])),
                (
                    "m".into(),
                    Value::Map([("k".to_string(), Value::Double(f64::NAN))].into()),
                ),
                ("again".into(), Value::Enum(0, "RED".into())),
            ]),
        );
        assert_eq!(
            json(&s, &bytes, mapping()).unwrap(),
            r#"{"u":"x","n":null,"e":"GREEN","b":"/wA=","f":"AQI=","m":{"k":"NaN"},"again":"RED"}"#
        );
    }

    #[test]
    fn logical_types_as_kafka_users_expect() {
        let schema = r#"{"type":"record","name":"L","fields":[
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
            {"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
            {"name":"day","type":{"type":"int","logicalType":"date"}},
            {"name":"t","type":{"type":"int","logicalType":"time-millis"}},
            {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
            {"name":"neg","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":3}},
            {"name":"id","type":{"type":"string","logicalType":"uuid"}}]}"#;
        let (s, bytes) = encode(
            schema,
            Value::Record(vec![
                ("ts".into(), Value::TimestampMillis(1_700_000_000_123)),
                ("us".into(), Value::TimestampMicros(1_700_000_000_123_456)),
                ("local".into(), Value::LocalTimestampMillis(0)),
                ("day".into(), Value::Date(19_000)),
                ("t".into(), Value::TimeMillis(3_723_004)),
                ("price".into(), Value::Decimal(vec![0x30, 0x39].into())),
                ("neg".into(), Value::Decimal(vec![0xff, 0xfe].into())),
                (
                    "id".into(),
                    Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
                ),
            ]),
        );
        assert_eq!(
            json(&s, &bytes, mapping()).unwrap(),
            r#"{"ts":"2023-11-14T22:13:20.123Z","us":"2023-11-14T22:13:20.123456Z","local":"1970-01-01T00:00:00.000","day":"2022-01-08","t":"01:02:03.004","price":"123.45","neg":"-0.002","id":"67e55044-10b1-426f-9247-bb680e5fe0c8"}"#
        );
        let numbers = Mapping {
            decimals: DecimalFormat::Number,
            timestamps: TimestampFormat::Number,
        };
        assert_eq!(
            json(&s, &bytes, numbers).unwrap(),
            r#"{"ts":1700000000123,"us":1700000000123456,"local":0,"day":19000,"t":3723004,"price":123.45,"neg":-0.002,"id":"67e55044-10b1-426f-9247-bb680e5fe0c8"}"#
        );
    }

    #[test]
    fn references_and_named_types() {
        let address = r#"{"type":"record","name":"Address","namespace":"a","fields":[{"name":"city","type":"string"}]}"#;
        let person = r#"{"type":"record","name":"Person","namespace":"a","fields":[{"name":"home","type":"Address"}]}"#;
        let s = AvroSchema::parse(person, &[address.to_string()]).unwrap();
        // home.city = "Oslo": a string of 4 (zigzag 8).
        assert_eq!(
            json(&s, b"\x08Oslo", mapping()).unwrap(),
            r#"{"home":{"city":"Oslo"}}"#
        );
        assert!(AvroSchema::parse(person, &[]).is_err());
    }

    #[test]
    fn decimals_of_any_sign_and_scale() {
        assert_eq!(decimal_text(&[0x00], 0).unwrap(), "0");
        assert_eq!(decimal_text(&[0x01, 0x00], 1).unwrap(), "25.6");
        assert_eq!(decimal_text(&[0x05], 3).unwrap(), "0.005");
        assert_eq!(decimal_text(&[0x80], 0).unwrap(), "-128");
        assert!(decimal_text(&[0; 17], 0).is_err());
    }
}
