//! A transform for tests that misbehaves on request. Each record is a JSON
//! object written as a row, unless its `fault` field asks for trouble:
//! `"error"` (an error outcome), `"panic"`, `"trap"` (unreachable), `"loop"`
//! (never returns), `"oom"` (allocates without bound), `"skip"`, `"file"`,
//! `"env"`, `"socket"` (tries to escape the sandbox; the outcome says what happened),
//! `"enormous"` (returns `rows` rows, default 1, each one `varchar` field `v` of
//! `bytes` bytes, default 0: an output as large as the instance's memory allows).
//!
//! `[transform.config] fail_init = "message"` makes `init` fail with that message.
use kmv_guest::{Config, Field, Outcome, Record, Transform, Value, export_transform};

/// The misbehaving transform.
pub struct Faulty;

impl Transform for Faulty {
    fn init(config: Config) -> Result<Self, String> {
        match config.get("fail_init").and_then(|v| v.as_str()) {
            Some(message) => Err(message.to_string()),
            None => Ok(Faulty),
        }
    }

    fn process(&mut self, record: Record) -> Outcome {
        let object = match record.json_object() {
            Ok(o) => o,
            Err(reason) => return Outcome::Error(reason),
        };
        match object.get("fault").and_then(|v| v.as_str()) {
            Some("error") => Outcome::error("asked to fail"),
            Some("skip") => Outcome::Skip,
            Some("panic") => panic!("asked to panic"),
            Some("trap") => std::process::abort(),
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("oom") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("enormous") => {
                let count = |key: &str, default: u64| {
                    object.get(key).and_then(|v| v.as_u64()).unwrap_or(default) as usize
                };
                let text = "x".repeat(count("bytes", 0));
                let row = || {
                    vec![Field {
                        name: "v".into(),
                        value: Value::Varchar(text.clone()),
                    }]
                };
                Outcome::Rows((0..count("rows", 1)).map(|_| row()).collect())
            }
            Some("file") => match std::fs::read_to_string("/etc/passwd") {
                Ok(_) => Outcome::error("ESCAPED: read /etc/passwd"),
                Err(e) => Outcome::error(format!("sandboxed: {e}")),
            },
            Some("env") => match std::env::vars().next() {
                Some((k, _)) => Outcome::error(format!("ESCAPED: saw env {k}")),
                None => Outcome::error("sandboxed: no environment"),
            },
            Some("socket") => match std::net::TcpStream::connect("127.0.0.1:9092") {
                Ok(_) => Outcome::error("ESCAPED: opened a socket"),
                Err(e) => Outcome::error(format!("sandboxed: {e}")),
            },
            _ => Outcome::row(kmv_guest::Row::from_json_object(object)),
        }
    }
}

export_transform!(Faulty);
