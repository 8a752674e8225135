//! The command line: `kmv-host --pipeline FILE`, `check`, `test`, `init`, `new`.

mod check;
pub mod framed;
mod init;
mod new;
pub mod try_records;

use crate::config::PipelineConfig;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use try_records::{InputFormat, OutputFormat, TestOptions};

/// Stream Kafka records through a WebAssembly transform into Milvus or Zilliz Cloud.
///
/// `kmv-host --pipeline pipeline.toml` consumes the pipeline's Kafka topics in
/// a consumer group, runs each record through the transform component named
/// in `[transform] module`, and writes the rows in batches to the `[sink]`
/// collection. An offset is committed only after its rows are written.
///
/// Try a transform on local records first:
///   kmv-host test --pipeline pipeline.toml --input records.jsonl
#[derive(Debug, Parser)]
#[command(name = "kmv-host", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The pipeline to run (TOML: [source], [transform], [sink]).
    #[arg(long, value_name = "FILE", global = false)]
    pipeline: Option<PathBuf>,

    /// Stop (flush, commit, exit 0) once no record has arrived for this many
    /// seconds after partitions were assigned: for backfills and scripts.
    #[arg(long, value_name = "SECONDS", requires = "pipeline")]
    stop_when_idle: Option<f64>,

    /// Seconds between progress lines (records in, rows written, skipped,
    /// failed, batches, retries, consumer lag).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    progress_interval: f64,

    /// Serve Prometheus metrics (/metrics) and health checks (/healthz,
    /// /readyz) on this address: `HOST:PORT`, or `PORT` for 127.0.0.1:PORT.
    /// Off when not given.
    #[arg(long, value_name = "ADDRESS", value_parser = crate::observability::parse_address, requires = "pipeline")]
    http_address: Option<std::net::SocketAddr>,

    /// Log level or filter (e.g. `debug`, `kmv_host=trace`); RUST_LOG works too.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    /// Log line format: `text` for people, `json` for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a pipeline: the config, the transform module (compiled and
    /// checked against this host's contract) and the transform's init. With
    /// --module, validate a new version of the transform against the
    /// pipeline's config before it is dropped in.
    Check(CheckArgs),
    /// Run the pipeline's transform over records from a local file and print
    /// the rows, the skipped and the failed records with reasons. Needs no
    /// Kafka and no Milvus.
    Test(TestArgs),
    /// Describe a collection and write a pipeline.toml for it: every field
    /// listed (type, dimension, nullable, default, function output) beside
    /// the keys that matter, and the write mode chosen from the schema.
    /// Never overwrites a file without --force.
    Init(init::InitArgs),
    /// Write a new transform crate: the SDK (built into this binary, at its
    /// contract version), a template's code with a native unit test,
    /// records.jsonl and a pipeline.toml, such that `cargo build --release
    /// --target wasm32-wasip2` and then `kmv-host test --pipeline
    /// pipeline.toml --input records.jsonl` work in its folder.
    New(new::NewArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The pipeline file.
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// A new version of the transform to check instead of the pipeline's
    /// module: compiled, initialised with the pipeline's [transform.config]
    /// and, with --input, run over records whose rows are checked against
    /// the [sink] collection's schema.
    #[arg(long, value_name = "WASM")]
    module: Option<PathBuf>,
    /// Records to run the module over (the formats of `kmv-host test`):
    /// no record may fault and every row must fit the collection schema.
    #[arg(long, value_name = "FILE", requires = "module")]
    input: Option<PathBuf>,
    /// How to read each --input line (as for `kmv-host test`).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The pipeline file (only its [transform] table is used).
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// Records, one per line: a JSON value (the record's value), or an
    /// envelope `{"key": ..., "value": ..., "headers": {...}}`. A line that is
    /// not JSON is passed as raw bytes. `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// How to read each line: `auto` takes an object whose keys are only
    /// key/value/headers/topic/partition/offset/timestamp, with `value`, as an
    /// envelope, anything else as a value.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
    /// `text` for people (long vectors shortened), `json` (one object per
    /// record, per line) for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    /// Exit with status 1 when any record failed.
    #[arg(long)]
    fail_on_error: bool,
    /// Decode Confluent-framed records (written in the envelope as
    /// `{"hex": "..."}` or `{"base64": "..."}`) with schemas from this
    /// registry (default: the pipeline's [source.schema_registry]).
    #[arg(long, value_name = "URL")]
    schema_registry: Option<String>,
    /// Decode Confluent-framed records with this local schema file (Avro
    /// JSON, .proto text or JSON Schema), whatever their schema id: no
    /// registry needed.
    #[arg(long, value_name = "FILE", conflicts_with = "schema_registry")]
    schema: Option<PathBuf>,
    /// How record values are encoded (default: the pipeline's [source]
    /// value_format): json, raw, avro, protobuf, json_schema.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    value_format: Option<crate::source::decode::Format>,
}

fn parse_format(s: &str) -> Result<crate::source::decode::Format, String> {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    crate::source::decode::Format::deserialize(s.into_deserializer())
        .map_err(|e: serde::de::value::Error| e.to_string())
}

/// Sets up logging to stderr from `--log-level` / `RUST_LOG` and `--log-format`.
pub fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The run's own flags do not apply to `check` and `test`; the global ones
    // (--log-level, --log-format) go before or after the command name.
    if let Some(command) = &cli.command {
        let name = match command {
            Command::Check(_) => "check",
            Command::Test(_) => "test",
            Command::Init(_) => "init",
            Command::New(_) => "new",
        };
        for (flag, given) in [
            ("--pipeline", cli.pipeline.is_some()),
            ("--stop-when-idle", cli.stop_when_idle.is_some()),
            ("--http-address", cli.http_address.is_some()),
        ] {
            if given {
                anyhow::bail!(
                    "{flag} before `{name}` belongs to running a pipeline; write `kmv-host {name} --pipeline FILE ...` (see kmv-host {name} --help)"
                );
            }
        }
    }
    match cli.command {
        Some(Command::Init(args)) => init::init(&args),
        Some(Command::New(args)) => new::new(&args),
        Some(Command::Check(args)) => match &args.module {
            Some(module) => check::check_module(&args, module),
            None => check::check(&args.pipeline),
        },
        Some(Command::Test(args)) => {
            let loaded = PipelineConfig::load(&args.pipeline)?;
            let engine = loaded.load_transform()?;
            let options = TestOptions {
                input: args.input,
                input_format: args.input_format,
                output: args.output,
                topic: loaded.sample_topic().to_string(),
                decoder: framed::decoder(
                    &loaded,
                    &framed::SchemaFlags {
                        registry: args.schema_registry,
                        file: args.schema,
                        value_format: args.value_format,
                    },
                )?,
            };
            let summary = try_records::run(&engine, &options, &mut std::io::stdout().lock())?;
            Ok(if args.fail_on_error && summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        None => match cli.pipeline {
            Some(pipeline) => {
                let options = crate::pipeline::RunOptions {
                    stop_when_idle: cli.stop_when_idle.map(Duration::from_secs_f64),
                    progress_interval: Duration::from_secs_f64(cli.progress_interval.max(0.1)),
                    http_address: cli.http_address,
                };
                crate::pipeline::run_file(&pipeline, options).map(|_| ExitCode::SUCCESS)
            }
            None => anyhow::bail!(
                "nothing to do: give --pipeline FILE to run a pipeline, or a command (see kmv-host --help)"
            ),
        },
    }
}
