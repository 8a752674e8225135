//! A build without the cargo feature `json-schema` (jsonschema and the
//! serde_json `float_roundtrip` it requires; the benchmarks' native side is
//! built so, to parse floats as a guest does): a JSON Schema payload's schema
//! cannot be compiled, so records naming one fail with how to build it in.

/// Never made: compiling always fails in this build.
#[derive(Debug)]
pub enum JsonSchema {}

impl JsonSchema {
    /// Refuses: this build cannot validate JSON Schema payloads.
    pub fn compile(_text: &str, _references: &[(String, String)]) -> Result<JsonSchema, String> {
        Err(
            "this kmv-host was built without JSON Schema validation (cargo feature \
             `json-schema`); build it in with `cargo build --release -p kmv-host`"
                .into(),
        )
    }

    /// Unreachable: there is no schema to check against.
    pub fn check(&self, _payload: &[u8]) -> Result<(), String> {
        match *self {}
    }
}
