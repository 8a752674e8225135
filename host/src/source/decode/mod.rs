//! Record formats: `[source] key_format` / `value_format` say how keys and
//! values are encoded. `json` and `raw` pass the bytes through as they are;
//! `avro`, `protobuf` and `json_schema` are the Confluent wire format (a zero
//! byte, the schema id, the encoded value), whose schema the host fetches
//! from the Schema Registry the first time an id appears and caches, so a
//! schema that evolves needs no restart. Decoded Avro and Protobuf values
//! reach the transform as MessagePack (contract 0.3.0; older transforms get
//! its JSON text), decoded keys as JSON text, so a transform written for
//! JSON records (the SDK's `Record::json`, `json_row`, `json_object`) reads
//! them unchanged.
//!
//! A record that cannot be decoded (no magic byte, an id the registry does
//! not know, bytes that do not match the schema) fails alone, as a
//! `decode_error`. A registry that cannot be reached is retried with backoff
//! for as long as it lasts while the batch waits: consumption is paused and
//! polling goes on, so the consumer keeps its partitions.
//!
//! - `wire`: the framing; `registry`: the client; `avro` (with `pack`),
//!   `protobuf`: the decoders, to MessagePack or JSON; `json_schema`: the
//!   validator of JSON Schema payloads.

mod avro;
mod batch;
#[cfg(feature = "json-schema")]
mod json_schema;
#[cfg(not(feature = "json-schema"))]
#[path = "json_schema_off.rs"]
mod json_schema;
mod pack;
mod protobuf;
pub mod registry;
pub mod wire;

pub use crate::common::msgpack::to_json;
pub use batch::Decoded;
pub use registry::RegistryConfig;

use super::{Source, SourceError};
use crate::common::invalid::Invalid;
use crate::common::retry::RetryPolicy;
use crate::transform::{KafkaRecord, ValueForm};
use registry::{FetchError, RawSchema, Registry};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How a record's key or value is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON text, handed to the transform as it is (the default).
    #[default]
    Json,
    /// Any bytes, handed to the transform as they are.
    Raw,
    /// Avro in the Confluent wire format, decoded (values to MessagePack,
    /// keys to JSON).
    Avro,
    /// Protobuf in the Confluent wire format, decoded (values to
    /// MessagePack, keys to JSON).
    Protobuf,
    /// JSON in the Confluent wire format (JSON Schema): the framing is taken
    /// off and the payload validated against the schema.
    JsonSchema,
}

impl Format {
    /// Whether the bytes are handed on as they are.
    pub fn passes_through(self) -> bool {
        matches!(self, Format::Json | Format::Raw)
    }

    /// The form values of this format reach the transform in: MessagePack
    /// for Avro and Protobuf, bytes (as consumed, or JSON text) for the others.
    pub fn value_form(self) -> ValueForm {
        match self {
            Format::Avro | Format::Protobuf => ValueForm::MessagePack,
            _ => ValueForm::Bytes,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Raw => "raw",
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
            Format::JsonSchema => "json_schema",
        }
    }

    /// The registry's `schemaType` for this format.
    fn schema_type(self) -> &'static str {
        match self {
            Format::Protobuf => "PROTOBUF",
            Format::JsonSchema => "JSON",
            _ => "AVRO",
        }
    }
}

/// How Avro decimals are written in the JSON handed to the transform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalFormat {
    /// `"123.45"`: exact (the default).
    #[default]
    String,
    /// `123.45`: a JSON number (a transform reading it as f64 may round).
    Number,
}

/// How Avro dates, times and timestamps are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601 text: `"2024-05-01T12:00:00.123Z"`, `"2024-05-01"`,
    /// `"12:00:00.123"` (the default).
    #[default]
    Rfc3339,
    /// The number Avro carries: epoch milliseconds (or micros, nanos) for a
    /// timestamp, days for a date, milliseconds (micros) of the day for a time.
    Number,
}

/// How decoded values are written as JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mapping {
    pub decimals: DecimalFormat,
    pub timestamps: TimestampFormat,
}

/// Checks the format keys of `[source]` together.
pub(crate) fn validate(
    key: Format,
    value: Format,
    registry: Option<&RegistryConfig>,
) -> Result<(), Invalid> {
    for (name, format) in [("value_format", value), ("key_format", key)] {
        if !format.passes_through() && registry.is_none() {
            return Err(Invalid::key(
                "source",
                name,
                format!(
                    "`{}` needs a schema registry: add a [source.schema_registry] table with url = \"http://HOST:8081\"",
                    format.as_str()
                ),
            ));
        }
    }
    if let Some(registry) = registry {
        registry.validate()?;
    }
    Ok(())
}

/// A schema ready to decode with.
#[derive(Debug)]
enum Parsed {
    Avro(Box<avro::AvroSchema>),
    Protobuf(protobuf::ProtoSchema),
    Json(json_schema::JsonSchema),
}

/// What the decoder knows of a schema id.
#[derive(Debug, Clone)]
enum Known {
    Ready(Arc<(String, Parsed)>),
    /// The schema cannot be used (it does not parse): records naming it fail.
    Bad(String),
    /// The registry said it does not know the id (asked again after [`ASK_AGAIN`]).
    Missing(String, Instant),
}

/// How long an id the registry did not know is taken as unknown before it
/// is asked again.
const ASK_AGAIN: Duration = Duration::from_secs(30);

/// Where schemas come from: the registry, or (for `kmv-host test`) one
/// local schema used for every id.
pub enum Schemas {
    Registry(Registry),
    File { kind: String, text: String },
}

impl Schemas {
    fn get(&self, id: u32) -> Result<RawSchema, FetchError> {
        match self {
            Schemas::Registry(r) => r.schema(id),
            Schemas::File { kind, text } => Ok(RawSchema {
                schema: text.clone(),
                schema_type: Some(kind.clone()),
                references: vec![],
            }),
        }
    }
}

/// Why a batch could not be decoded now.
#[derive(Debug)]
enum BatchError {
    /// The registry cannot be reached: try again later.
    Unavailable(String),
    /// The registry refused the request: stop.
    Refused(String),
}

/// Decodes records by the `[source]` formats, caching schemas by id.
pub struct Decoder {
    key: Format,
    value: Format,
    mapping: Mapping,
    schemas: Schemas,
    known: HashMap<u32, Known>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("key", &self.key)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `[source]`'s formats; `None` when both pass through.
    pub fn for_source(
        config: &super::SourceConfig,
        handle: tokio::runtime::Handle,
    ) -> Result<Option<Decoder>, String> {
        if config.key_format.passes_through() && config.value_format.passes_through() {
            return Ok(None);
        }
        let registry = config
            .schema_registry
            .as_ref()
            .ok_or("[source.schema_registry] is needed to decode framed records")?;
        let schemas = Schemas::Registry(Registry::new(registry, handle)?);
        Ok(Some(Decoder::new(
            config.key_format,
            config.value_format,
            config.mapping(),
            schemas,
        )))
    }

    /// The form of the values it decodes to.
    pub fn value_form(&self) -> ValueForm {
        self.value.value_form()
    }

    /// A decoder with schemas from `schemas`.
    pub fn new(key: Format, value: Format, mapping: Mapping, schemas: Schemas) -> Decoder {
        Decoder {
            key,
            value,
            mapping,
            schemas,
            known: HashMap::new(),
        }
    }

    /// The schema `id`, fetched and parsed the first time it is asked for.
    fn schema(&mut self, id: u32) -> Result<Known, BatchError> {
        match self.known.get(&id) {
            Some(Known::Missing(_, at)) if at.elapsed() >= ASK_AGAIN => {}
            Some(known) => return Ok(known.clone()),
            None => {}
        }
        let known = match self.fetch(id) {
            Ok(raw) => {
                let kind = raw.kind().to_string();
                match self.parse(&raw) {
                    Ok(parsed) => {
                        info!(schema_id = id, kind, "Schema fetched from the registry.");
                        Known::Ready(Arc::new((kind, parsed)))
                    }
                    Err(e) => Known::Bad(format!("schema id {id} ({kind}) cannot be used: {e}")),
                }
            }
            Err(FetchError::NotFound(e)) => Known::Missing(
                format!("schema id {id} is not in the schema registry ({e})"),
                Instant::now(),
            ),
            Err(FetchError::Unavailable(e)) => return Err(BatchError::Unavailable(e)),
            Err(FetchError::Refused(e)) => return Err(BatchError::Refused(e)),
        };
        self.known.insert(id, known.clone());
        Ok(known)
    }

    fn fetch(&self, id: u32) -> Result<RawSchema, FetchError> {
        self.schemas.get(id)
    }

    /// The texts of the schemas `raw` references, recursively, dependencies
    /// first: (import name, text).
    fn references(&self, raw: &RawSchema, out: &mut Vec<(String, String)>) -> Result<(), String> {
        let Schemas::Registry(registry) = &self.schemas else {
            return Ok(());
        };
        for r in &raw.references {
            if out.iter().any(|(name, _)| *name == r.name) {
                continue;
            }
            let referenced = registry.version(&r.subject, r.version).map_err(|e| {
                format!(
                    "its reference {} ({} version {}): {e:?}",
                    r.name, r.subject, r.version
                )
            })?;
            self.references(&referenced, out)?;
            out.push((r.name.clone(), referenced.schema));
        }
        Ok(())
    }

    fn parse(&self, raw: &RawSchema) -> Result<Parsed, String> {
        let mut refs = Vec::new();
        self.references(raw, &mut refs)?;
        match raw.kind() {
            "AVRO" => {
                let texts: Vec<String> = refs.into_iter().map(|(_, text)| text).collect();
                avro::AvroSchema::parse(&raw.schema, &texts).map(|s| Parsed::Avro(Box::new(s)))
            }
            "PROTOBUF" => protobuf::ProtoSchema::compile(&raw.schema, &refs).map(Parsed::Protobuf),
            "JSON" => json_schema::JsonSchema::compile(&raw.schema, &refs).map(Parsed::Json),
            other => Err(format!("unknown schema type {other}")),
        }
    }

    /// Decodes one key or value (`what`) of `format`: a value in
    /// `format.value_form()`, a key as text (JSON).
    fn payload(
        &mut self,
        format: Format,
        what: &str,
        bytes: &[u8],
    ) -> Result<Result<Vec<u8>, String>, BatchError> {
        let at = |e: String| {
            Ok(Err(format!(
                "the {what} cannot be decoded as {}: {e}",
                format.as_str()
            )))
        };
        let framed = match wire::split(bytes) {
            Ok(f) => f,
            Err(e) => return at(e),
        };
        let id = framed.id;
        let schema = match self.schema(id)? {
            Known::Ready(schema) => schema,
            Known::Bad(e) | Known::Missing(e, _) => return at(e),
        };
        let (kind, parsed) = &*schema;
        if kind != format.schema_type() {
            return at(format!(
                "schema id {id} is a {kind} schema, not {}",
                format.schema_type()
            ));
        }
        let mut out = Vec::with_capacity(bytes.len() * 2);
        let decoded = match parsed {
            Parsed::Avro(s) if what == "value" => s.to_pack(framed.body, self.mapping, &mut out),
            Parsed::Avro(s) => s.to_json(framed.body, self.mapping, &mut out),
            Parsed::Protobuf(s) => {
                wire::message_indexes(framed.body).and_then(|(indexes, message)| {
                    if what == "value" {
                        s.to_pack(&indexes, message, &mut out)
                    } else {
                        s.to_json(&indexes, message, &mut out)
                    }
                })
            }
            Parsed::Json(s) => s
                .check(framed.body)
                .map(|()| out.extend_from_slice(framed.body)),
        };
        match decoded {
            Ok(()) => Ok(Ok(out)),
            Err(e) => at(format!("{e} (schema id {id})")),
        }
    }

    /// The record with its key and value decoded, or why it cannot be.
    fn record(&mut self, record: &KafkaRecord) -> Result<Result<KafkaRecord, String>, BatchError> {
        let mut decoded = KafkaRecord {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: None,
            headers: record.headers.clone(),
        };
        if let (Some(key), false) = (&record.key, self.key.passes_through()) {
            match self.payload(self.key, "key", key)? {
                Ok(k) => decoded.key = Some(k),
                Err(e) => return Ok(Err(e)),
            }
        }
        decoded.value = match (&record.value, self.value.passes_through()) {
            (None, _) => None,
            (Some(v), true) => Some(v.clone()),
            (Some(v), false) => match self.payload(self.value, "value", v)? {
                Ok(v) => Some(v),
                Err(e) => return Ok(Err(e)),
            },
        };
        Ok(Ok(decoded))
    }

    /// Decodes every record: each is decoded or has the reason it is not.
    fn all(
        &mut self,
        records: &[KafkaRecord],
    ) -> Result<Vec<Result<KafkaRecord, String>>, BatchError> {
        records.iter().map(|r| self.record(r)).collect()
    }

    /// Decodes `records` once, with no retries (`kmv-host test`): a registry
    /// that cannot be reached is an error.
    pub fn decode_now(
        &mut self,
        records: &[KafkaRecord],
    ) -> Result<Vec<Result<KafkaRecord, String>>, String> {
        self.all(records).map_err(|e| match e {
            BatchError::Unavailable(e) => format!("the schema registry cannot be reached: {e}"),
            BatchError::Refused(e) => format!("the schema registry refused: {e}"),
        })
    }
}

/// How a registry that cannot be reached is retried: forever, 200 ms
/// doubling to 10 s, with jitter.
fn outage_policy() -> RetryPolicy {
    RetryPolicy::from_keys(true, 0, 200, 10_000, 0.2)
}

/// How long one poll waits while a batch waits for the registry.
const PAUSED_POLL: Duration = Duration::from_millis(100);

impl Source {
    /// Decodes a polled batch by the `[source]` formats. While the registry
    /// cannot be reached, consumption is paused and polling goes on (the
    /// consumer keeps its partitions; records of partitions revoked
    /// meanwhile are dropped, uncommitted) and the request is retried with
    /// backoff until it succeeds. `None`: `shutdown` was set meanwhile
    /// (nothing of the batch is handed on or committed).
    pub fn decode(
        &self,
        records: Vec<KafkaRecord>,
        shutdown: &AtomicBool,
    ) -> Result<Option<Decoded>, SourceError> {
        let Some(decoder) = &self.decoder else {
            return Ok(Some(Decoded::unchanged(records)));
        };
        let mut decoder = decoder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batch = Decoded::unchanged(records);
        let policy = outage_policy();
        let mut attempt = 0;
        let mut failing_since: Option<Instant> = None;
        loop {
            if batch.records.is_empty() {
                break;
            }
            match decoder.all(&batch.records) {
                Ok(results) => {
                    let records = std::mem::take(&mut batch.records);
                    batch = Decoded::from_results(records, results, decoder.value_form());
                    break;
                }
                Err(BatchError::Refused(e)) => return Err(SourceError::Registry(e)),
                Err(BatchError::Unavailable(e)) => {
                    attempt += 1;
                    let delay = policy.backoff(attempt);
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    warn!(
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        failing_for_s = since.elapsed().as_secs(),
                        records = batch.records.len(),
                        error = %e,
                        "Schema registry unreachable; the records wait and the request is retried."
                    );
                    if attempt == 1 {
                        self.pause()?;
                    }
                    let until = Instant::now() + delay;
                    while Instant::now() < until {
                        if shutdown.load(Ordering::SeqCst) {
                            return Ok(None);
                        }
                        let revoked = self.poll_paused(PAUSED_POLL)?;
                        batch.drop_partitions(&revoked);
                    }
                }
            }
        }
        if let Some(since) = failing_since {
            self.resume()?;
            info!(
                attempts = attempt + 1,
                waited_s = since.elapsed().as_secs(),
                "Schema registry reachable again; consumption resumed."
            );
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests;
