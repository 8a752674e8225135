//! `kmv-host test` on records in the Confluent wire format: the pipeline's
//! `[source]` formats (or `--schema-registry URL` / `--schema FILE`) decode
//! each record's key and value before the transform, as a running pipeline
//! does; a record that cannot be decoded prints as a `decode_error`.
//! Framed bytes are written in the JSONL envelope as `{"hex": "00000000..."}`
//! or `{"base64": "AAAAAA..."}`.

use crate::config::Loaded;
use crate::source::decode::registry::{Registry, RegistryConfig};
use crate::source::decode::{Decoder, Format, Schemas};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where `kmv-host test` takes schemas from.
#[derive(Debug, Clone, Default)]
pub struct SchemaFlags {
    /// `--schema-registry URL`.
    pub registry: Option<String>,
    /// `--schema FILE`: one schema used for every schema id.
    pub file: Option<PathBuf>,
    /// `--value-format`: overrides `[source] value_format`.
    pub value_format: Option<Format>,
}

/// A decoder shared with the printer, and the runtime its registry
/// requests run on (kept alive as long as the decoder).
#[derive(Debug, Clone)]
pub struct TestDecoder {
    pub decoder: Arc<Mutex<Decoder>>,
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
}

/// The decoder `kmv-host test` uses, or `None` when the records pass through.
pub fn decoder(loaded: &Loaded, flags: &SchemaFlags) -> anyhow::Result<Option<TestDecoder>> {
    let source = loaded.config.source.as_ref();
    let value = flags
        .value_format
        .or(source.map(|s| s.value_format))
        .unwrap_or_default();
    let key = source.map(|s| s.key_format).unwrap_or_default();
    if value.passes_through() && key.passes_through() {
        return Ok(None);
    }
    let mapping = source.map(|s| s.mapping()).unwrap_or_default();
    if let Some(file) = &flags.file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --schema {}", file.display()))?;
        let kind = match value {
            Format::Protobuf => "PROTOBUF",
            Format::JsonSchema => "JSON",
            _ => "AVRO",
        };
        let schemas = Schemas::File {
            kind: kind.into(),
            text,
        };
        return Ok(Some(TestDecoder {
            decoder: Arc::new(Mutex::new(Decoder::new(key, value, mapping, schemas))),
            _runtime: None,
        }));
    }
    let config = match (
        &flags.registry,
        source.and_then(|s| s.schema_registry.as_ref()),
    ) {
        (Some(url), configured) => RegistryConfig {
            url: url.clone(),
            ..configured.cloned().unwrap_or(RegistryConfig {
                url: String::new(),
                basic_auth: None,
                bearer_token: None,
                ca_file: None,
                request_timeout_ms: 10_000,
            })
        },
        (None, Some(configured)) => configured.clone(),
        (None, None) => anyhow::bail!(
            "the records are `{}`: give --schema-registry URL or --schema FILE",
            if value.passes_through() {
                "framed keys"
            } else {
                "framed values"
            }
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let registry = Registry::new(&config, runtime.handle().clone()).map_err(anyhow::Error::msg)?;
    Ok(Some(TestDecoder {
        decoder: Arc::new(Mutex::new(Decoder::new(
            key,
            value,
            mapping,
            Schemas::Registry(registry),
        ))),
        _runtime: Some(Arc::new(runtime)),
    }))
}
