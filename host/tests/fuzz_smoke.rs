//! The fuzz targets' smoke run, in CI: each entry point of
//! `kmv_host::fuzzing` (what `fuzz/` runs coverage-guided, by hand) gets its
//! seed inputs, every input the fuzzers found that once failed
//! (`fuzz/regressions/<target>/`), and 20,000 mutations of the seeds from a
//! fixed random seed (a few seconds in all). A panic is a failure with the input printed as
//! hex; so is one input taking longer than `SLOW` (a hang, or a blow-up).

use std::path::PathBuf;
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_secs(10);
const MUTATIONS: usize = 20_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// xorshift64*: fixed, so a failure is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`, libFuzzer's kinds: a bit flip, an interesting
/// byte, a range deleted or repeated, a token inserted, a splice with
/// another seed.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = [0, 0xff, 0x7f, 0x80, b'"', b'\\', b'0', b'9'][rng.below(8)];
            }
            2 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(32)).min(out.len());
                let piece = out[at..end].to_vec();
                for _ in 0..1 + rng.below(3) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            4 | 5 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn hex(input: &[u8]) -> String {
    input.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `target` on the seeds, the regressions and the mutations.
fn smoke(name: &str, target: fn(&[u8]), seeds: Vec<Vec<u8>>, tokens: &[&str]) {
    let dir = repo().join("fuzz/regressions").join(name);
    let mut regressions: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let found = regressions.len();
    // fuzz/run.sh starts libFuzzer's corpus from these seeds.
    if let Some(out) = std::env::var_os("KMV_FUZZ_SEEDS") {
        let out = PathBuf::from(out).join(name);
        std::fs::create_dir_all(&out).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i}")), seed).unwrap();
        }
    }
    let mut inputs = seeds.clone();
    inputs.append(&mut regressions);
    let mut rng = Rng(0x6b6d_7621_u64 ^ name.len() as u64);
    for _ in 0..MUTATIONS {
        let base = &seeds[rng.below(seeds.len())];
        inputs.push(mutate(&mut rng, base, &seeds, tokens));
    }
    let started = Instant::now();
    for input in &inputs {
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(|| target(input));
        assert!(
            outcome.is_ok(),
            "fuzz target {name} panicked on input (hex) {}",
            hex(input)
        );
        assert!(
            t.elapsed() < SLOW,
            "fuzz target {name} took {:?} on input (hex) {}",
            t.elapsed(),
            hex(input)
        );
    }
    println!(
        "{name}: {} inputs ({} seeds, {found} regressions) in {:.1?}",
        inputs.len(),
        seeds.len(),
        started.elapsed()
    );
}

fn files(patterns: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in patterns {
        let (dir, ext) = dir.split_once("*").unwrap();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(ext) {
                out.push(std::fs::read(path).unwrap());
            }
        }
    }
    assert!(!out.is_empty(), "no seeds in {patterns:?}");
    out
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "0",
    "-1",
    "1e400",
    "-0.0",
    "1.5",
    "9223372036854775808",
    "\"\\u0000\"",
    "\"code\"",
    "\"data\"",
    "\"fields\"",
    "\"type\"",
    "\"params\"",
    "\"dim\"",
    "\"Int64\"",
    "\"VarChar\"",
    "\"Array\"",
    "\"FloatVector(4)\"",
    "\"insertCount\"",
    "\"upsertCount\"",
    "\"insertIds\"",
    "\"message\"",
    "\"primaryKey\"",
    "\"elementType\"",
    "\"structFields\"",
    "\"nullable\"",
    "\"defaultValue\"",
];

#[test]
fn pipeline_toml() {
    let mut seeds = files(&["examples/avro/*.toml", "host/tests/ui/*.toml"]);
    for dir in [
        "examples/seed",
        "examples/cdc",
        "examples/embed-title",
        "examples/zilliz",
    ] {
        seeds.push(std::fs::read(repo().join(dir).join("pipeline.toml")).unwrap());
    }
    let tokens = [
        "[",
        "]",
        "[[",
        "=",
        "\"",
        "'''",
        "\n",
        "[sink]",
        "[source]",
        "[transform]",
        "[errors]",
        "[sink.create]",
        "[[sink.create.fields]]",
        "[embedders.e]",
        "[source.schema_registry]",
        "batch_max_rows = ",
        "0",
        "-1",
        "99999999999999999999",
        "1e999",
        "nan",
        "true",
        "{}",
        "${X}",
        "module = \"",
        "endpoint = \"",
        "topics = [",
        "collections = [\"*\"]",
    ];
    smoke(
        "pipeline_toml",
        kmv_host::fuzzing::pipeline_toml,
        seeds,
        &tokens,
    );
}

#[test]
fn describe_answer() {
    let v1 = br#"{"code":200,"data":{"collectionName":"c","description":"","enableDynamicField":false,"fields":[{"autoId":false,"description":"","name":"id","primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","name":"v","primaryKey":false,"type":"FloatVector(2)"},{"name":"t","type":"VarChar(16)"}],"indexes":[],"load":"LoadStateLoaded","shardsNum":1}}"#;
    let struct_fields = br#"{"code":0,"data":{"collectionName":"c","fields":[{"name":"id","type":"VarChar","primaryKey":true,"params":[{"key":"max_length","value":"8"}]}],"structFields":[{"name":"chunks","fields":[{"name":"text","type":"VarChar","params":[{"key":"max_length","value":"8"}]},{"name":"emb","type":"FloatVector","params":[{"key":"dim","value":"2"}]}]}]}}"#;
    let mut seeds = Vec::new();
    for first in [0u8, 1, 2, 6, 10] {
        for body in [kmv_host::fuzzing::EVERY_TYPE.as_bytes(), v1, struct_fields] {
            seeds.push([&[first][..], body].concat());
        }
    }
    seeds.push(b"\x00{\"code\":1100,\"message\":\"collection not found\"}".to_vec());
    smoke(
        "describe_answer",
        kmv_host::fuzzing::describe_answer,
        seeds,
        JSON_TOKENS,
    );
}

#[test]
fn write_answer() {
    let mut seeds = Vec::new();
    for first in 0u8..8 {
        for body in [
            &br#"{"code":0,"data":{"insertCount":3,"insertIds":[1,2,3]}}"#[..],
            br#"{"code":0,"data":{"upsertCount":3,"upsertIds":["a","b","c"]}}"#,
            br#"{"code":200,"data":{"insertCount":3,"insertIds":[1,2,3]}}"#,
            br#"{"code":1100,"message":"invalid parameter"}"#,
            br#"{"code":1804,"message":"fail to deal the insert data"}"#,
            b"<html>502 Bad Gateway</html>",
        ] {
            seeds.push([&[first][..], body].concat());
        }
    }
    smoke(
        "write_answer",
        kmv_host::fuzzing::write_answer,
        seeds,
        JSON_TOKENS,
    );
}

#[test]
fn encode_row() {
    let mut rng = Rng(7);
    let seeds: Vec<Vec<u8>> = (0..64)
        .map(|_| (0..rng.below(400)).map(|_| rng.next() as u8).collect())
        .collect();
    smoke(
        "encode_row",
        kmv_host::fuzzing::encode_row,
        seeds,
        &["\0", "\x0a", "\x07"],
    );
}

/// The Avro seed: every field of `AVRO_SCHEMA` set, framed as id 1.
fn avro_record() -> Vec<u8> {
    use apache_avro::types::Value as V;
    let schema = apache_avro::Schema::parse_str(kmv_host::fuzzing::AVRO_SCHEMA).unwrap();
    let decimal = |bytes: Vec<u8>| V::Decimal(apache_avro::Decimal::from(bytes));
    let record = V::Record(vec![
        ("id".into(), V::Long(42)),
        ("title".into(), V::Union(1, Box::new(V::String("t".into())))),
        (
            "title_vector".into(),
            V::Array(vec![V::Float(0.5), V::Float(-1.0)]),
        ),
        ("score".into(), V::Double(1e-6)),
        ("ok".into(), V::Boolean(true)),
        ("n".into(), V::Int(-7)),
        ("raw".into(), V::Bytes(vec![0, 1, 2])),
        ("kind".into(), V::Enum(1, "SCIENCE".into())),
        ("digest".into(), V::Fixed(4, vec![1, 2, 3, 4])),
        (
            "tags".into(),
            V::Map([("a".to_string(), V::String("b".into()))].into()),
        ),
        ("price".into(), decimal(vec![0x30, 0x39])),
        ("big".into(), decimal(vec![0, 0, 0, 0, 0, 0, 0x30, 0x39])),
        ("day".into(), V::Date(19_000)),
        ("at_ms".into(), V::TimestampMillis(1_700_000_000_000)),
        ("at_us".into(), V::TimestampMicros(1_700_000_000_000_000)),
        ("local".into(), V::LocalTimestampMillis(1_700_000_000_000)),
        ("t_ms".into(), V::TimeMillis(3_600_000)),
        ("t_us".into(), V::TimeMicros(3_600_000_000)),
        (
            "uuid".into(),
            V::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
        ),
        (
            "inner".into(),
            V::Union(
                1,
                Box::new(V::Record(vec![
                    ("f".into(), V::Float(2.5)),
                    ("next".into(), V::Union(0, Box::new(V::Null))),
                ])),
            ),
        ),
    ]);
    let datum = apache_avro::to_avro_datum(&schema, record).unwrap();
    [&[0u8, 0, 0, 0, 1][..], &datum].concat()
}

#[test]
fn decode_record() {
    let avro = avro_record();
    // Protobuf: magic, id, message index 0 (one zero byte), then id = 42,
    // title = "abc", title_vector = [1.0, -2.0] packed, inner { b = "x" }.
    let proto = [
        &[0u8, 0, 0, 0, 1, 0][..],
        &[0x08, 42, 0x12, 3, b'a', b'b', b'c', 0x1a, 8],
        &1.0f32.to_le_bytes(),
        &(-2.0f32).to_le_bytes(),
        &[0x4a, 3, 0x0a, 1, b'x'],
    ]
    .concat();
    let json = [&[0u8, 0, 0, 0, 1][..], br#"{"id":1,"v":[0.5]}"#].concat();
    // Every keyword of fuzzing::JSON_SCHEMA met, so mutations reach each.
    let json_all = [
        &[0u8, 0, 0, 0, 1][..],
        br#"{"id":2,"title":"t","kind":"news","at":"2024-05-01T12:00:00Z","tags":["a","b"],"score":1.5,"x":true}"#,
    ]
    .concat();
    let seeds = vec![
        [&[0u8][..], &avro].concat(),
        [&[1u8][..], &proto].concat(),
        [&[2u8][..], &json].concat(),
        [&[2u8][..], &json_all].concat(),
    ];
    // The seeds decode: the smoke would be blind if they did not.
    for seed in &seeds {
        assert_eq!(
            kmv_host::fuzzing::decodes(seed),
            Some(true),
            "{}",
            hex(seed)
        );
    }
    smoke(
        "decode_record",
        kmv_host::fuzzing::decode_record,
        seeds,
        &["\0", "\x01", "\x7f", "\u{80}\u{80}\u{80}", "\x02", "\x0a"],
    );
}

#[test]
fn avro_schema() {
    let seeds = vec![
        [
            kmv_host::fuzzing::AVRO_SCHEMA.as_bytes(),
            b"\0",
            &avro_record()[5..],
        ]
        .concat(),
        b"\"long\"\0\x54".to_vec(),
        br#"{"type":"array","items":{"type":"map","values":["null","double"]}}"#
            .iter()
            .chain(b"\0\x02\x02\x02a\x02\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00")
            .copied()
            .collect(),
        br#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#
            .iter()
            .chain(b"\0\x02\x02\x02\x00")
            .copied()
            .collect(),
    ];
    smoke(
        "avro_schema",
        kmv_host::fuzzing::avro_schema,
        seeds,
        &JSON_TOKENS
            .iter()
            .copied()
            .chain([
                "\"record\"",
                "\"enum\"",
                "\"fixed\"",
                "\"logicalType\"",
                "\"decimal\"",
                "\"symbols\"",
                "\"size\"",
                "\"items\"",
                "\"values\"",
                "\"name\"",
            ])
            .collect::<Vec<_>>(),
    );
}
