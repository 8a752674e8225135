//! `kmv-host init`: describes a collection and writes a `pipeline.toml` for
//! it, every field listed beside the keys that matter.

use crate::sink::{
    CollectionSchema, DataType, FieldSchema, MilvusSink, RestApi, SinkConfig, WriteOp,
};
use anyhow::Context;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `init` was asked for.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The Milvus or Zilliz Cloud endpoint, e.g. http://127.0.0.1:19530.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:19530")]
    pub endpoint: String,
    /// The collection rows go to; it must exist (see [sink.create] to have
    /// kmv-host create it).
    #[arg(long, value_name = "NAME")]
    pub collection: String,
    /// The token to describe the collection with (`user:password`, or a
    /// Zilliz Cloud API key). The file gets `${MILVUS_TOKEN}`, never the
    /// token itself.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MILVUS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The database (default: `default`).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// The Kafka topic to read.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The Kafka brokers.
    #[arg(long, value_name = "HOST:PORT,...", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The transform module (default: target/wasm32-wasip2/release/transform.wasm,
    /// to be replaced by yours; `kmv-host new` makes one).
    #[arg(long, value_name = "WASM")]
    pub module: Option<String>,
    /// Where to write the file; `-` for standard output.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        default_value = "pipeline.toml"
    )]
    pub output: PathBuf,
    /// Overwrite the file when it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `kmv-host init`.
pub fn init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout && args.output.exists() && !args.force {
        anyhow::bail!(
            "{} exists; pass --force to overwrite it, or -o OTHER.toml (or -o - for standard output)",
            args.output.display()
        );
    }
    let mut config: SinkConfig = toml::from_str(&format!(
        "endpoint = {:?}\ncollection = {:?}",
        args.endpoint, args.collection
    ))
    .context("the endpoint or collection name")?;
    config.database = args.database.clone();
    config.token = args.token.clone().map(crate::sink::Secret::new);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let sink = runtime
        .block_on(MilvusSink::connect(&config))
        .with_context(|| {
            format!(
                "cannot describe collection `{}` at {}; nothing written",
                args.collection, args.endpoint
            )
        })?;
    let text = pipeline_text(args, &sink.schema(), sink.api(), sink.write_op());
    if to_stdout {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        std::fs::write(&args.output, &text)
            .with_context(|| format!("writing {}", args.output.display()))?;
        eprintln!(
            "wrote {} for collection `{}` ({} fields, {}); next: point [transform] module at your transform and run `kmv-host check --pipeline {}`",
            args.output.display(),
            args.collection,
            sink.schema().fields.len(),
            sink.write_op(),
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The pipeline file for `schema`.
pub(crate) fn pipeline_text(
    args: &InitArgs,
    schema: &CollectionSchema,
    api: RestApi,
    op: WriteOp,
) -> String {
    let mut t = header(args, schema, api);
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let group = format!("kmv-{}", schema.name);
    let module = args
        .module
        .clone()
        .unwrap_or_else(|| "target/wasm32-wasip2/release/transform.wasm".into());
    let _ = write!(
        t,
        r#"
[source]
brokers = {brokers}
topics = [{topic}]
group_id = {group}
start_from = "earliest"          # a new group reads the topic from its start; "latest": only new records

[transform]
module = {module}   # relative to this file; `kmv-host new NAME` makes a transform crate
# [transform.config]              # handed to the transform's init as JSON

[sink]
endpoint = {endpoint}
"#,
        brokers = q(&args.brokers),
        topic = q(&args.topic),
        group = q(&group),
        module = q(&module),
        endpoint = q(&args.endpoint),
    );
    if args.token.is_some() {
        t.push_str(
            "token = \"${MILVUS_TOKEN}\"         # read from the environment; never logged\n",
        );
    }
    if let Some(db) = &args.database {
        let _ = writeln!(t, "database = {}", q(db));
    }
    let _ = writeln!(t, "collection = {}", q(&schema.name));
    let why = match op {
        WriteOp::Upsert => format!(
            "rows carry the primary key `{}`: a replay overwrites them, deletes work by key",
            schema.primary
        ),
        WriteOp::Insert => format!(
            "`{}` is auto-id: Milvus makes the keys; a replay after a crash inserts again",
            schema.primary
        ),
    };
    let _ = writeln!(t, "write_mode = \"{op}\"            # {why}");
    t.push_str("batch_max_rows = 1000\nlinger_ms = 200\n\n[errors]\npolicy = \"log\"                  # or \"dead_letter\" with dead_letter_topic = \"...\", or \"stop\"\n");
    t
}

/// The comment at the top: every field, and what the collection allows.
fn header(args: &InitArgs, schema: &CollectionSchema, api: RestApi) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# pipeline.toml for collection `{}` at {} (REST {api}), written by `kmv-host init`.",
        schema.name, args.endpoint
    );
    t.push_str(
        "#\n# The collection's fields: what the transform's rows must, may or must not set.\n",
    );
    let width = schema
        .fields
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0);
    for f in &schema.fields {
        let _ = writeln!(t, "#   {:<width$}  {}", f.name, field_note(f, schema));
    }
    if schema.dynamic {
        t.push_str(
            "#   (dynamic fields on: rows may set other keys; they go into the dynamic field)\n",
        );
    } else {
        t.push_str("#   (dynamic fields off: a row with any other key fails as schema_mismatch)\n");
    }
    if schema.loaded == Some(false) {
        t.push_str(
            "# The collection is not loaded: rows are written, searches see them once it is.\n",
        );
    }
    t
}

/// What a row must know about one field.
fn field_note(f: &FieldSchema, schema: &CollectionSchema) -> String {
    let mut note = f.data_type.to_string();
    if f.primary {
        note.push_str(", primary key");
        if f.auto_id && !schema.allow_insert_auto_id {
            note.push_str(" (auto id: rows leave it out)");
        } else if f.auto_id {
            note.push_str(" (auto id; rows may set it: allow_insert_auto_id)");
        } else {
            note.push_str(" (every row sets it)");
        }
    } else if f.function_output {
        note.push_str(", output of a function: never set, Milvus computes it");
    } else if matches!(f.data_type, DataType::StructArray) {
        note.push_str(": kmv-host does not write struct arrays; leave it out");
    } else if f.nullable && f.has_default {
        note.push_str(", nullable, has a default: may be left out");
    } else if f.nullable {
        note.push_str(", nullable: may be left out or null");
    } else if f.has_default {
        note.push_str(", has a default: may be left out");
    } else {
        note.push_str(", required");
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, data_type: DataType) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            data_type,
            primary: false,
            auto_id: false,
            nullable: false,
            has_default: false,
            function_output: false,
        }
    }

    #[test]
    fn the_file_lists_every_field_and_parses_as_a_pipeline() {
        let mut id = field("id", DataType::Int64);
        id.primary = true;
        let mut note = field("note", DataType::VarChar { max_length: 32 });
        note.nullable = true;
        let mut bm25 = field("bm25", DataType::SparseFloatVector);
        bm25.function_output = true;
        let schema = CollectionSchema {
            name: "articles".into(),
            fields: vec![id, field("v", DataType::FloatVector { dim: 8 }), note, bm25],
            primary: "id".into(),
            auto_id: false,
            dynamic: true,
            allow_insert_auto_id: false,
            loaded: Some(false),
        };
        let args = InitArgs {
            endpoint: "http://127.0.0.1:19530".into(),
            collection: "articles".into(),
            token: Some("root:Milvus".into()),
            database: None,
            topic: "in \"quotes\"".into(),
            brokers: "127.0.0.1:9092".into(),
            module: None,
            output: "-".into(),
            force: false,
        };
        let text = pipeline_text(&args, &schema, RestApi::V2, WriteOp::Upsert);
        assert!(
            text.contains("#   id    Int64, primary key (every row sets it)"),
            "{text}"
        );
        assert!(
            text.contains("#   v     FloatVector dim 8, required"),
            "{text}"
        );
        assert!(
            text.contains("#   note  VarChar(max_length 32), nullable: may be left out or null"),
            "{text}"
        );
        assert!(
            text.contains("bm25  SparseFloatVector, output of a function: never set"),
            "{text}"
        );
        assert!(text.contains("not loaded"), "{text}");
        assert!(text.contains("write_mode = \"upsert\""), "{text}");
        assert!(
            !text.contains("root:Milvus"),
            "the token itself must never be written: {text}"
        );
        let parsed: crate::config::PipelineConfig = toml::from_str(&text).unwrap();
        let source = parsed.source.unwrap();
        assert_eq!(source.topics, ["in \"quotes\""]);
        assert_eq!(parsed.sink.unwrap().collection, "articles");
    }
}
