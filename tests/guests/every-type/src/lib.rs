//! `every-type`: a JSON object becomes a row as `passthrough` makes it, except
//! two keys JSON cannot type: `sparse`, an object of index to value, becomes
//! a sparse vector, and `bin`, a list of bytes, a binary vector. With it a
//! test can write every field type Milvus has from plain JSON records.
use kmv_guest::{Config, Outcome, Record, Row, Transform, Value, export_transform};

/// See the module docs.
pub struct EveryType;

fn sparse(row: &mut Row) -> Result<(), String> {
    let Some(Value::Json(text)) = row.get("sparse").cloned() else {
        return Ok(());
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("sparse: {e}"))?;
    let mut pairs = Vec::with_capacity(map.len());
    for (index, value) in map {
        let index: u32 = index
            .parse()
            .map_err(|e| format!("sparse index {index}: {e}"))?;
        let value = value
            .as_f64()
            .ok_or_else(|| format!("sparse value at {index} is not a number"))?;
        pairs.push((index, value as f32));
    }
    row.set("sparse", Value::SparseVector(pairs));
    Ok(())
}

fn binary(row: &mut Row) -> Result<(), String> {
    let Some(Value::Array(kmv_guest::ArrayValue::Ints(ints))) = row.get("bin").cloned() else {
        return Ok(());
    };
    let bytes = ints
        .iter()
        .map(|i| u8::try_from(*i).map_err(|_| format!("bin: {i} is not a byte")))
        .collect::<Result<Vec<u8>, String>>()?;
    row.set("bin", Value::BinaryVector(bytes));
    Ok(())
}

impl Transform for EveryType {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(EveryType)
    }

    fn process(&mut self, record: Record) -> Outcome {
        let mut row = match record.json_row() {
            Ok(row) => row,
            Err(e) => return Outcome::Error(e),
        };
        match sparse(&mut row).and_then(|()| binary(&mut row)) {
            Ok(()) => row.into(),
            Err(e) => Outcome::Error(e),
        }
    }
}

export_transform!(EveryType);
