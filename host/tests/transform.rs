//! The transform runtime on real components built from the workspace
//! (`tests/artifacts` builds them for wasm32-wasip2).

mod common;

use kmv_host::common::class::ErrorClass;
use kmv_host::config::TransformConfig;
use kmv_host::transform::{
    ArrayValue, FaultKind, Field, KafkaRecord, RecordOutcome, TransformEngine, TransformError,
    Value,
};
use kmv_test_artifacts as wasm;
use std::path::Path;

/// A `[transform]` table for `module` with extra TOML lines.
fn config(module: &str, extra: &str) -> TransformConfig {
    let cache = std::env::temp_dir().join("kmv-host-test-cache");
    let text = format!(
        "module = {module:?}\ncache_dir = {:?}\n{extra}",
        cache.display().to_string()
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("bad test config: {e}\n{text}"))
}

fn load(module: &str, extra: &str) -> Result<TransformEngine, TransformError> {
    TransformEngine::builder(Path::new(module), &config(module, extra)).load()
}

fn record(offset: i64, value: &str) -> KafkaRecord {
    common::record("t", offset, value)
}

fn run(module: &str, extra: &str, values: &[&str]) -> Vec<RecordOutcome> {
    let engine = load(module, extra).unwrap_or_else(|e| panic!("{e}"));
    let records: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as i64, v))
        .collect();
    engine.worker().unwrap().process(&records).unwrap()
}

fn field<'a>(row: &'a [Field], name: &str) -> &'a Value {
    &row.iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name} in {row:?}"))
        .value
}

fn only_row(outcome: &RecordOutcome) -> &[Field] {
    match outcome {
        RecordOutcome::Rows(rows) if rows.len() == 1 => &rows[0],
        other => panic!("expected one row, got {other:?}"),
    }
}

const SEED: &str = r#"{"id": 0, "title": "The Reported Mortality Rate of Coronavirus Is Not Important", "title_vector": [0.041732933, 0.013779674, -0.027564144, -0.013061441, 0.009748648, 0.00082446384, -0.00071647146, 0.048612226], "link": "https://medium.com/swlh/the-reported-mortality-rate-of-coronavirus-is-not-important-369989c8d912"}"#;

#[test]
fn seed_record_becomes_a_typed_row() {
    let out = run(wasm::SEED, "", &[SEED, r#"{"id": 1}"#]);
    let row = only_row(&out[0]);
    let names: Vec<_> = row.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "title", "title_vector", "link"]);
    assert_eq!(field(row, "id"), &Value::Int64(0));
    assert_eq!(
        field(row, "title"),
        &Value::Varchar("The Reported Mortality Rate of Coronavirus Is Not Important".into())
    );
    // The vector's JSON text, as it arrived: the host checks it natively.
    let Value::FloatVectorJson(text) = field(row, "title_vector") else {
        panic!("not a vector's text")
    };
    let v: Vec<f32> = serde_json::from_str(text).unwrap();
    assert_eq!(v.len(), 8);
    assert_eq!(v[0], 0.041732933_f32);
    assert_eq!(v[7], 0.048612226_f32);
    assert!(SEED.contains(&format!(r#""title_vector": {text}"#)));
    match &out[1] {
        RecordOutcome::Error(reason) => {
            assert!(reason.contains("missing field `title`"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn passthrough_types_json_values() {
    let out = run(
        wasm::PASSTHROUGH,
        "",
        &[
            r#"{"id": 5, "score": 0.5, "tags": ["a", "b"], "v": [1.5, 2], "meta": {"k": [1]}}"#,
            "not json",
            "[1, 2]",
        ],
    );
    let row = only_row(&out[0]);
    assert_eq!(field(row, "id"), &Value::Int64(5));
    assert_eq!(field(row, "score"), &Value::Double(0.5));
    assert_eq!(
        field(row, "tags"),
        &Value::Array(ArrayValue::Varchars(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        field(row, "v"),
        &Value::Array(ArrayValue::Floats(vec![1.5, 2.0]))
    );
    assert_eq!(field(row, "meta"), &Value::Json(r#"{"k":[1]}"#.into()));
    assert!(
        matches!(&out[1], RecordOutcome::Error(r) if r.starts_with("the value is not valid JSON")),
        "{:?}",
        out[1]
    );
    assert_eq!(
        out[2],
        RecordOutcome::Error("the value is a JSON array, not an object".into())
    );
}

#[test]
fn rename_follows_its_config() {
    let extra = "[config]\nrenames = { headline = \"title\" }\nexclude = [\"internal\"]\nvectors = [\"v\"]\n";
    let out = run(
        wasm::RENAME,
        extra,
        &[r#"{"id": 1, "headline": "h", "internal": true, "v": [1, 2]}"#],
    );
    let row = only_row(&out[0]);
    let names: Vec<_> = row.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "title", "v"]);
    assert_eq!(field(row, "v"), &Value::FloatVector(vec![1.0, 2.0]));
}

#[test]
fn filter_skips_what_the_rule_drops() {
    let extra = "[config]\nkeep_if = { field = \"lang\", op = \"eq\", value = \"en\" }\n";
    let out = run(
        wasm::FILTER,
        extra,
        &[r#"{"lang": "en"}"#, r#"{"lang": "fr"}"#, r#"{"x": 1}"#],
    );
    assert!(matches!(out[0], RecordOutcome::Rows(_)));
    assert_eq!(out[1], RecordOutcome::Skip);
    assert_eq!(out[2], RecordOutcome::Skip);
}

#[test]
fn bad_init_config_stops_with_the_guests_message() {
    let e = load(wasm::RENAME, "[config]\nrenmaes = {}\n")
        .unwrap()
        .worker()
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, TransformError::Init { .. }), "{e:?}");
    assert!(text.contains("refused its [transform.config]"), "{text}");
    assert!(text.contains("unknown field `renmaes`"), "{text}");

    let e = load(wasm::FILTER, "").unwrap().worker().unwrap_err();
    assert!(
        e.to_string()
            .contains("exactly one of `keep_if` or `drop_if`"),
        "{e}"
    );

    let e = load(
        wasm::FAULTY,
        "[config]\nfail_init = \"no model named foo\"\n",
    )
    .unwrap()
    .worker()
    .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("refused its [transform.config]: no model named foo"),
        "{e}"
    );
}

#[test]
fn guest_error_is_an_outcome_not_a_fault() {
    let engine = load(wasm::FAULTY, "").unwrap();
    let mut worker = engine.worker().unwrap();
    let out = worker
        .process(&[
            record(0, r#"{"fault": "error"}"#),
            record(1, r#"{"id": 1}"#),
        ])
        .unwrap();
    assert_eq!(out[0], RecordOutcome::Error("asked to fail".into()));
    assert_eq!(out[0].error_class(), Some(ErrorClass::TransformError));
    assert!(matches!(out[1], RecordOutcome::Rows(_)));
    assert_eq!(
        worker.rebuilds(),
        0,
        "an error outcome must not rebuild the instance"
    );
}

/// Good records around each fault, in one batch: only the bad record fails.
fn assert_isolated(fault: &str, extra: &str, kind: FaultKind, reason_part: &str) {
    let bad = format!(r#"{{"id": 5, "fault": "{fault}"}}"#);
    assert_value_isolated(&bad, extra, kind, reason_part);
}

/// Good records around the record `bad`, in one batch: only it fails.
fn assert_value_isolated(bad: &str, extra: &str, kind: FaultKind, reason_part: &str) {
    let engine = load(wasm::FAULTY, extra).unwrap();
    let mut worker = engine.worker().unwrap();
    let mut records: Vec<_> = (0..9)
        .map(|i| record(i, &format!(r#"{{"id": {i}}}"#)))
        .collect();
    records[5] = record(5, bad);
    let out = worker.process(&records).unwrap();
    assert_eq!(out.len(), 9);
    for (i, o) in out.iter().enumerate() {
        if i == 5 {
            match o {
                RecordOutcome::Fault { kind: k, reason } => {
                    assert_eq!(*k, kind, "{reason}");
                    assert!(reason.contains(reason_part), "{reason}");
                }
                RecordOutcome::Rows(rows) => {
                    panic!("record 5: expected a {kind} fault, got {} rows", rows.len())
                }
                other => panic!("record 5: expected a {kind} fault, got {other:?}"),
            }
            assert_eq!(o.error_class(), Some(ErrorClass::TransformFault));
        } else {
            let row = only_row(o);
            assert_eq!(field(row, "id"), &Value::Int64(i as i64), "record {i}");
        }
    }
    assert!(worker.rebuilds() >= 1);
    // The rebuilt instance keeps working.
    let out = worker.process(&[record(10, r#"{"id": 10}"#)]).unwrap();
    assert!(matches!(out[0], RecordOutcome::Rows(_)));
}

#[test]
fn trap_is_isolated_to_its_record() {
    assert_isolated("trap", "", FaultKind::Trap, "the transform trapped");
}

#[test]
fn panic_message_is_in_the_reason() {
    assert_isolated("panic", "", FaultKind::Trap, "asked to panic");
}

#[test]
fn endless_loop_hits_the_deadline() {
    assert_isolated(
        "loop",
        "call_timeout_ms = 200\n",
        FaultKind::Timeout,
        "did not finish within 200 ms",
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    assert_isolated(
        "oom",
        "memory_limit_mib = 32\n",
        FaultKind::MemoryLimit,
        "memory limit of 32 MiB",
    );
}

/// A record whose outcome is larger than `call_max_output_bytes` (100,000
/// rows of one short field, about 8 MB as the host holds them) faults alone;
/// without the limit it would come back as rows.
#[test]
fn enormous_output_hits_the_output_limit() {
    assert_value_isolated(
        r#"{"id": 5, "fault": "enormous", "rows": 100000}"#,
        "call_max_output_bytes = 1048576\n",
        FaultKind::OutputLimit,
        "more than 1048576 bytes in one call (its outcomes, or one log or embed call) (transform.call_max_output_bytes)",
    );
}

/// Under the default limit (64 MiB) a million rows (about 81 MB lifted, 70 MB
/// of the instance's 128 MiB) is an output fault, not rows nor a trap; 100
/// rows of 100 kB (10 MB) are rows.
#[test]
fn default_output_limit() {
    let out = run(
        wasm::FAULTY,
        "",
        &[
            r#"{"fault": "enormous", "rows": 1000000}"#,
            r#"{"fault": "enormous", "rows": 100, "bytes": 100000}"#,
        ],
    );
    match &out[0] {
        RecordOutcome::Fault { kind, reason } => {
            assert_eq!(*kind, FaultKind::OutputLimit, "{reason}");
            assert!(reason.contains("more than 67108864 bytes"), "{reason}");
        }
        RecordOutcome::Rows(rows) => panic!("expected an output fault, got {} rows", rows.len()),
        other => panic!("expected an output fault, got {other:?}"),
    }
    match &out[1] {
        RecordOutcome::Rows(rows) => assert_eq!(rows.len(), 100),
        other => panic!("expected rows, got {other:?}"),
    }
}

/// A call whose records together return more than the limit, each alone
/// less, is split by the isolation and every record gets its rows.
#[test]
fn a_call_over_the_output_limit_is_split_not_failed() {
    // 8 records of 20,000 rows (about 1.6 MB each) against 4 MiB: a call of
    // 8 (13 MB) or 4 (6.5 MB) is over, a call of 2 is not.
    let values = vec![r#"{"fault": "enormous", "rows": 20000}"#; 8];
    let out = run(wasm::FAULTY, "call_max_output_bytes = 4194304\n", &values);
    for (i, o) in out.iter().enumerate() {
        match o {
            RecordOutcome::Rows(rows) => assert_eq!(rows.len(), 20000, "record {i}"),
            other => panic!("record {i}: expected rows, got {other:?}"),
        }
    }
}

/// memory_limit_mib's whole range loads (4096 asked the pool for 4 GiB + 64 KiB).
#[test]
fn the_largest_memory_limit_loads() {
    let out = run(
        wasm::PASSTHROUGH,
        "memory_limit_mib = 4096\n",
        &[r#"{"id": 1}"#],
    );
    assert!(matches!(out[0], RecordOutcome::Rows(_)), "{out:?}");
}

#[test]
fn sandbox_gives_no_files_environment_or_network() {
    // SAFETY of the test: these variables exist in the host process, so a
    // guest that saw the host environment would report one.
    let out = run(
        wasm::FAULTY,
        "",
        &[
            r#"{"fault": "file"}"#,
            r#"{"fault": "env"}"#,
            r#"{"fault": "socket"}"#,
        ],
    );
    for (o, what) in out.iter().zip(["file", "env", "socket"]) {
        match o {
            RecordOutcome::Error(reason) => {
                assert!(reason.starts_with("sandboxed"), "{what}: {reason}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn calls_are_split_by_bytes() {
    // 40 records of ~1 KiB with a 4 KiB call limit: many calls, same outcomes in order.
    let pad = "x".repeat(1000);
    let values: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"id": {i}, "pad": "{pad}"}}"#))
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let out = run(wasm::PASSTHROUGH, "call_max_bytes = 4096\n", &refs);
    assert_eq!(out.len(), 40);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(field(only_row(o), "id"), &Value::Int64(i as i64));
    }
}

/// A component built for the frozen 0.1.0 contract runs unchanged beside
/// 0.3.0 ones: same records in, its rows out; bad input an error outcome.
#[test]
fn a_module_built_for_contract_0_1_still_runs() {
    use kmv_host::transform::Contract;
    let engine = load(wasm::CONTRACT_0_1, "").unwrap();
    assert_eq!(engine.contract(), Contract::V0_1);
    assert_eq!(
        load(wasm::CONTRACT_0_2, "").unwrap().contract(),
        Contract::V0_2
    );
    assert_eq!(load(wasm::SEED, "").unwrap().contract(), Contract::V0_3);
    let records = vec![record(0, SEED), record(1, r#"{"id": "x"}"#)];
    let out = engine.worker().unwrap().process(&records).unwrap();
    let row = only_row(&out[0]);
    assert_eq!(field(row, "id"), &Value::Int64(0));
    assert!(
        matches!(field(row, "title_vector"), Value::FloatVector(v) if v.len() == 8),
        "{row:?}"
    );
    assert!(matches!(&out[1], RecordOutcome::Error(_)), "{:?}", out[1]);
}

/// Avro values decoded by the host reach a 0.3.0 transform (the seed) as
/// MessagePack and 0.2.0 / 0.1.0 ones as JSON text: the same rows from
/// each, and from the same articles as JSON; the vector's floats exactly
/// those written.
#[test]
fn decoded_avro_reaches_every_contract_alike() {
    use kmv_host::source::decode::{Decoded, Decoder, Format, Mapping, Schemas, wire};
    use kmv_host::transform::ValueForm;
    const SCHEMA: &str = r#"{"type":"record","name":"Article","namespace":"kmv.seed","fields":[
      {"name":"id","type":"long"},{"name":"title","type":"string"},
      {"name":"title_vector","type":{"type":"array","items":"float"}},{"name":"link","type":"string"}]}"#;
    let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
    let vectors: Vec<Vec<f32>> = (0..3)
        .map(|i| (0..8).map(|j| (i * 8 + j) as f32 * 0.1 - 1.0).collect())
        .collect();
    let (mut json, mut avro) = (vec![], vec![]);
    for (i, v) in vectors.iter().enumerate() {
        let text = serde_json::json!({"id": i, "title": format!("t\"{i}"), "title_vector": v, "link": "l"});
        json.push(record(i as i64, &text.to_string()));
        let datum = apache_avro::to_avro_datum(
            &schema,
            apache_avro::types::Value::Record(vec![
                ("id".into(), apache_avro::types::Value::Long(i as i64)),
                (
                    "title".into(),
                    apache_avro::types::Value::String(format!("t\"{i}")),
                ),
                (
                    "title_vector".into(),
                    apache_avro::types::Value::Array(
                        v.iter()
                            .map(|&x| apache_avro::types::Value::Float(x))
                            .collect(),
                    ),
                ),
                ("link".into(), apache_avro::types::Value::String("l".into())),
            ]),
        )
        .unwrap();
        avro.push(KafkaRecord::new(
            "t",
            0,
            i as i64,
            Some(wire::frame(1, &datum)),
        ));
    }
    let schemas = Schemas::File {
        kind: "AVRO".into(),
        text: SCHEMA.into(),
    };
    let mut decoder = Decoder::new(Format::Raw, Format::Avro, Mapping::default(), schemas);
    let results = decoder.decode_now(&avro).unwrap();
    let decoded = Decoded::from_results(avro, results, decoder.value_form());
    assert_eq!(decoded.form(), ValueForm::MessagePack);
    // Not JSON: the values are MessagePack maps (fixmap of 4 fields).
    assert_eq!(
        decoded.transform_input()[0].value.as_ref().unwrap()[0],
        0x84
    );

    let floats = |v: &Value| -> Vec<f32> {
        match v {
            Value::FloatVector(x) => x.clone(),
            Value::FloatVectorJson(text) => serde_json::from_str(text).unwrap(),
            other => panic!("not a vector: {other:?}"),
        }
    };
    let from_json = load(wasm::SEED, "")
        .unwrap()
        .worker()
        .unwrap()
        .process(&json)
        .unwrap();
    for module in [wasm::SEED, wasm::CONTRACT_0_2, wasm::CONTRACT_0_1] {
        let mut worker = load(module, "").unwrap().worker().unwrap();
        let out = worker
            .process_in(decoded.transform_input(), decoded.form())
            .unwrap();
        assert_eq!(out.len(), 3, "{module}");
        for (i, (o, j)) in out.iter().zip(&from_json).enumerate() {
            let (row, json_row) = (only_row(o), only_row(j));
            for name in ["id", "title", "link"] {
                assert_eq!(field(row, name), field(json_row, name), "{module} {name}");
            }
            assert_eq!(floats(field(row, "title_vector")), vectors[i], "{module}");
            assert_eq!(floats(field(json_row, "title_vector")), vectors[i]);
        }
        if module == wasm::SEED {
            // Typed all the way: the floats, not their text.
            let row = only_row(&out[0]);
            assert!(
                matches!(field(row, "title_vector"), Value::FloatVector(_)),
                "{row:?}"
            );
        }
    }
}

#[test]
fn module_for_another_wit_version_is_refused() {
    let e = load(wasm::WRONG_VERSION, "").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, TransformError::WrongVersion { .. }), "{e:?}");
    assert!(text.contains("was built for kmv:transform@9.0.0"), "{text}");
    assert!(
        text.contains("this kmv-host runs kmv:transform@0.1.0, 0.2.0 and kmv:transform@0.3.0"),
        "{text}"
    );
}

#[test]
fn core_module_and_garbage_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let e = load(core.to_str().unwrap(), "").unwrap_err();
    assert!(
        e.to_string().contains("is a core WebAssembly module"),
        "{e}"
    );
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"hello").unwrap();
    let e = load(junk.to_str().unwrap(), "").unwrap_err();
    assert!(
        e.to_string()
            .contains("does not start with the WebAssembly magic bytes"),
        "{e}"
    );
}

#[test]
fn compiled_module_is_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "";
    let text = format!(
        "module = {:?}\ncache_dir = {:?}\n{extra}",
        wasm::SEED,
        dir.path().display().to_string()
    );
    let cfg: TransformConfig = toml::from_str(&text).unwrap();
    TransformEngine::builder(Path::new(wasm::SEED), &cfg)
        .load()
        .unwrap();
    // wasmtime writes cache entries from a background worker: wait for one.
    let files = || walk(dir.path()).into_iter().filter(|p| p.is_file()).count();
    for _ in 0..100 {
        if files() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        files() > 0,
        "no compiled artifact in {}",
        dir.path().display()
    );
    // A second load (a cache hit) gives a working engine.
    let engine = TransformEngine::builder(Path::new(wasm::SEED), &cfg)
        .load()
        .unwrap();
    let out = engine
        .worker()
        .unwrap()
        .process(&[record(0, SEED)])
        .unwrap();
    assert!(matches!(out[0], RecordOutcome::Rows(_)));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
