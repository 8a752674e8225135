// The logic shared by the swap test guests (included by each crate's lib.rs,
// which sets VERSION and the misbehaviour flags).
//
// Each record's value is a JSON object `{"n": N}`; the row is
// `id` = partition * 1e9 + offset, `partition`, `offset`, `n`, `version`
// (the crate's VERSION, so rows show which version wrote them) and an
// 8-dimensional `vec`.

use kmv_guest::{Config, Outcome, Record, Row, Transform, export_transform};

/// The transform.
pub struct Swap;

impl Transform for Swap {
    fn init(_config: Config) -> Result<Self, String> {
        if FAIL_INIT {
            return Err(format!(
                "{VERSION} refuses to start (a test module whose init fails)"
            ));
        }
        Ok(Swap)
    }

    fn process(&mut self, record: Record) -> Outcome {
        if TRAP {
            panic!("{VERSION} traps on every record");
        }
        let object = match record.json_object() {
            Ok(o) => o,
            Err(reason) => return Outcome::Error(reason),
        };
        let Some(n) = object.get("n").and_then(|v| v.as_i64()) else {
            return Outcome::error("the record has no integer `n`");
        };
        let dim = if WRONG_DIM { 7 } else { 8 };
        let vec: Vec<f32> = (0..dim).map(|i| (n + i) as f32 * 0.001).collect();
        Outcome::row(
            Row::new()
                .with(
                    "id",
                    i64::from(record.partition) * 1_000_000_000 + record.offset,
                )
                .with("partition", i64::from(record.partition))
                .with("offset", record.offset)
                .with("n", n)
                .with("version", VERSION)
                .with("vec", vec),
        )
    }
}

export_transform!(Swap);
