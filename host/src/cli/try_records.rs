//! `kmv-host test`: run a transform over records from a local file.

use crate::common::class::ErrorClass;
use crate::transform::{
    Action, Change, Header, KafkaRecord, Key, RecordOutcome, RowJson, Target, TransformEngine,
    Value,
};
use anyhow::Context;
use clap::ValueEnum;
use serde_json::{Value as Json, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// How `kmv-host test` reads each input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// An envelope if the line looks like one, else a value.
    Auto,
    /// The whole line is the record's value.
    Value,
    /// `{"key": ..., "value": ..., "headers": {...}}`.
    Envelope,
}

/// How `kmv-host test` prints outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// One JSON object per record, per line.
    Json,
}

/// A record that could not be decoded is printed as an error with this
/// prefix, which the printers show as class `decode_error`.
const DECODE_ERROR: &str = "decode_error: ";

/// What `kmv-host test` was asked to do.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The records file (`-` for stdin).
    pub input: PathBuf,
    /// How to read lines.
    pub input_format: InputFormat,
    /// How to print.
    pub output: OutputFormat,
    /// The topic records are said to come from.
    pub topic: String,
    /// Decodes framed keys and values first (`None`: they pass through).
    pub decoder: Option<super::framed::TestDecoder>,
}

/// Counts of a `kmv-host test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub records: usize,
    /// Rows produced.
    pub rows: usize,
    /// Primary keys to delete.
    pub deletes: usize,
    /// Records skipped on purpose.
    pub skipped: usize,
    /// Records that failed (error or fault).
    pub failed: usize,
}

const ENVELOPE_KEYS: [&str; 7] = [
    "key",
    "value",
    "headers",
    "topic",
    "partition",
    "offset",
    "timestamp",
];

/// Reads the records, runs the transform and prints each outcome to `out`.
pub fn run(
    engine: &TransformEngine,
    options: &TestOptions,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let (records, lines) = read(options)?;
    let mut worker = engine.worker()?;
    let decoded = match &options.decoder {
        None => crate::source::decode::Decoded::unchanged(records),
        Some(d) => {
            let mut decoder = d.decoder.lock().unwrap_or_else(|e| e.into_inner());
            let results = decoder.decode_now(&records).map_err(anyhow::Error::msg)?;
            let form = decoder.value_form();
            crate::source::decode::Decoded::from_results(records, results, form)
        }
    };
    let input = decoded.transform_input();
    let outcomes = match input.is_empty() {
        true => Vec::new(),
        false => worker.process_in(input, decoded.form())?,
    };
    let outcomes: Vec<RecordOutcome> = decoded
        .place(outcomes)
        .into_iter()
        .map(|o| o.unwrap_or_else(|reason| RecordOutcome::Error(format!("{DECODE_ERROR}{reason}"))))
        .collect();
    let records = decoded.records;
    let mut summary = Summary {
        records: records.len(),
        ..Summary::default()
    };
    for ((record, line), outcome) in records.iter().zip(&lines).zip(&outcomes) {
        match outcome {
            RecordOutcome::Rows(rows) => summary.rows += rows.len(),
            RecordOutcome::Changes(changes) if changes.is_empty() => summary.skipped += 1,
            RecordOutcome::Changes(changes) => {
                for change in changes {
                    match &change.action {
                        Action::Row(_) => summary.rows += 1,
                        Action::Delete(keys) => summary.deletes += keys.len(),
                    }
                }
            }
            RecordOutcome::Skip => summary.skipped += 1,
            RecordOutcome::Error(_) | RecordOutcome::Fault { .. } => summary.failed += 1,
        }
        match options.output {
            OutputFormat::Text => print_text(out, *line, record, outcome)?,
            OutputFormat::Json => print_json(out, *line, record, outcome)?,
        }
    }
    if options.output == OutputFormat::Text {
        let deletes = match summary.deletes {
            0 => String::new(),
            n => format!(", {n} key{} to delete", if n == 1 { "" } else { "s" }),
        };
        writeln!(
            out,
            "{} records: {} rows{deletes}, {} skipped, {} failed (transform {})",
            summary.records,
            summary.rows,
            summary.skipped,
            summary.failed,
            engine.identity().short()
        )?;
    }
    out.flush()?;
    Ok(summary)
}

/// Reads records from `input` (`-`: standard input) as `kmv-host test` does,
/// said to come from `topic`.
pub fn read_records(
    input: &std::path::Path,
    input_format: InputFormat,
    topic: &str,
) -> anyhow::Result<Vec<KafkaRecord>> {
    let options = TestOptions {
        input: input.to_path_buf(),
        input_format,
        output: OutputFormat::Text,
        topic: topic.to_string(),
        decoder: None,
    };
    Ok(read(&options)?.0)
}

/// The records and the line each came from.
fn read(options: &TestOptions) -> anyhow::Result<(Vec<KafkaRecord>, Vec<usize>)> {
    let reader: Box<dyn BufRead> = if options.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&options.input)
            .with_context(|| format!("cannot open --input {}", options.input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut records = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("reading {}", options.input.display()))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = parse_line(line, options, records.len() as i64)
            .with_context(|| format!("{}:{}", options.input.display(), i + 1))?;
        records.push(record);
        lines.push(i + 1);
    }
    Ok((records, lines))
}

fn parse_line(line: &[u8], options: &TestOptions, offset: i64) -> anyhow::Result<KafkaRecord> {
    let mut record = KafkaRecord::new(options.topic.clone(), 0, offset, Some(line.to_vec()));
    let parsed: Option<Json> = serde_json::from_slice(line).ok();
    let envelope = match (options.input_format, &parsed) {
        (InputFormat::Value, _) => None,
        (InputFormat::Envelope, Some(Json::Object(m))) => Some(m),
        (InputFormat::Envelope, _) => {
            anyhow::bail!("--input-format envelope: the line is not a JSON object")
        }
        (InputFormat::Auto, Some(Json::Object(m)))
            if m.contains_key("value") && m.keys().all(|k| ENVELOPE_KEYS.contains(&k.as_str())) =>
        {
            Some(m)
        }
        (InputFormat::Auto, _) => None,
    };
    let Some(envelope) = envelope else {
        return Ok(record);
    };
    for key in envelope.keys() {
        if !ENVELOPE_KEYS.contains(&key.as_str()) {
            anyhow::bail!(
                "unknown envelope key `{key}` (expected one of {})",
                ENVELOPE_KEYS.join(", ")
            );
        }
    }
    record.value = envelope.get("value").and_then(payload);
    record.key = envelope.get("key").and_then(payload);
    if let Some(topic) = envelope.get("topic").and_then(Json::as_str) {
        record.topic = topic.to_string();
    }
    if let Some(p) = envelope.get("partition").and_then(Json::as_i64) {
        record.partition = i32::try_from(p).context("envelope `partition` is out of range")?;
    }
    if let Some(o) = envelope.get("offset").and_then(Json::as_i64) {
        record.offset = o;
    }
    record.timestamp = envelope.get("timestamp").and_then(Json::as_i64);
    match envelope.get("headers") {
        None | Some(Json::Null) => {}
        Some(Json::Object(h)) => {
            record.headers = h
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone(),
                    value: payload(v),
                })
                .collect();
        }
        Some(_) => anyhow::bail!("envelope `headers` must be an object of name: value"),
    }
    Ok(record)
}

/// A JSON string is taken as its text; null as absent; `{"hex": ...}` and
/// `{"base64": ...}` as the bytes they spell (framed records); anything else
/// as its JSON.
fn payload(v: &Json) -> Option<Vec<u8>> {
    if let Some(bytes) = bytes_of(v) {
        return Some(bytes);
    }
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

fn print_text(
    out: &mut dyn Write,
    line: usize,
    record: &KafkaRecord,
    outcome: &RecordOutcome,
) -> std::io::Result<()> {
    let at = format!("line {line} (offset {})", record.offset);
    match outcome {
        RecordOutcome::Rows(rows) => {
            writeln!(
                out,
                "{at}: {} row{}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            )?;
            for row in rows {
                writeln!(out, "  {}", row_text(row))?;
            }
            Ok(())
        }
        RecordOutcome::Changes(changes) if changes.is_empty() => writeln!(out, "{at}: skipped"),
        RecordOutcome::Changes(changes) => {
            writeln!(
                out,
                "{at}: {} change{}",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" }
            )?;
            for change in changes {
                let to = target_text(&change.target);
                match &change.action {
                    Action::Row(row) => writeln!(out, "  row for {to}: {}", row_text(row))?,
                    Action::Delete(keys) => {
                        writeln!(out, "  delete from {to}: {}", keys_json(keys))?
                    }
                }
            }
            Ok(())
        }
        RecordOutcome::Skip => writeln!(out, "{at}: skipped"),
        RecordOutcome::Error(reason) => match reason.strip_prefix(DECODE_ERROR) {
            Some(reason) => writeln!(out, "{at}: failed (decode_error): {reason}"),
            None => writeln!(out, "{at}: failed (transform_error): {reason}"),
        },
        RecordOutcome::Fault { kind, reason } => {
            writeln!(out, "{at}: failed (transform_fault, {kind}): {reason}")
        }
    }
}

/// `collection articles, partition p1`, or `the [sink] collection`.
fn target_text(target: &Target) -> String {
    let mut text = match &target.collection {
        Some(c) => format!("collection {c}"),
        None => "the [sink] collection".to_string(),
    };
    if let Some(p) = &target.partition {
        text.push_str(&format!(", partition {p}"));
    }
    text
}

/// Keys as a JSON array.
fn keys_json(keys: &[Key]) -> Json {
    keys.iter()
        .map(|k| match k {
            Key::Int64(i) => json!(i),
            Key::Varchar(s) => json!(s),
        })
        .collect()
}

/// A change in `--output json`.
#[derive(serde::Serialize)]
struct ChangeJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    collection: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<RowJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete: Option<Json>,
}

impl<'a> ChangeJson<'a> {
    fn new(change: &'a Change) -> Self {
        let (row, delete) = match &change.action {
            Action::Row(row) => (Some(RowJson(row)), None),
            Action::Delete(keys) => (None, Some(keys_json(keys))),
        };
        ChangeJson {
            collection: change.target.collection.as_deref(),
            partition: change.target.partition.as_deref(),
            row,
            delete,
        }
    }
}

/// A row as JSON, with float vectors over 16 values shortened.
fn row_text(row: &[crate::transform::Field]) -> String {
    let mut parts = Vec::with_capacity(row.len());
    for field in row {
        let value = match &field.value {
            Value::FloatVector(v) if v.len() > 16 => {
                let head: Vec<String> = v[..4].iter().map(f32::to_string).collect();
                format!("[{}, ... {} values]", head.join(","), v.len())
            }
            _ => match serde_json::to_string(&RowJson(std::slice::from_ref(field))) {
                Ok(text) => {
                    let inner = &text[1..text.len() - 1];
                    inner
                        .split_once(':')
                        .map_or(inner.to_string(), |(_, v)| v.to_string())
                }
                Err(e) => format!("<invalid: {e}>"),
            },
        };
        parts.push(format!("{}: {value}", json!(field.name)));
    }
    format!("{{{}}}", parts.join(", "))
}

/// One line of `--output json`.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    line: usize,
    topic: &'a str,
    partition: i32,
    offset: i64,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<Vec<RowJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<ChangeJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn print_json(
    out: &mut dyn Write,
    line: usize,
    record: &KafkaRecord,
    outcome: &RecordOutcome,
) -> anyhow::Result<()> {
    let mut l = JsonLine {
        line,
        topic: &record.topic,
        partition: record.partition,
        offset: record.offset,
        outcome: "failed",
        rows: None,
        changes: None,
        class: outcome.error_class().map(ErrorClass::as_str),
        fault: None,
        reason: None,
    };
    match outcome {
        RecordOutcome::Rows(rows) => {
            l.outcome = "rows";
            l.rows = Some(rows.iter().map(|r| RowJson(r)).collect());
        }
        RecordOutcome::Changes(changes) if changes.is_empty() => l.outcome = "skipped",
        RecordOutcome::Changes(changes) => {
            l.outcome = "changes";
            l.changes = Some(changes.iter().map(ChangeJson::new).collect());
        }
        RecordOutcome::Skip => l.outcome = "skipped",
        RecordOutcome::Error(reason) => match reason.strip_prefix(DECODE_ERROR) {
            Some(reason) => {
                l.class = Some("decode_error");
                l.reason = Some(reason);
            }
            None => l.reason = Some(reason),
        },
        RecordOutcome::Fault { kind, reason } => {
            l.fault = Some(kind.to_string());
            l.reason = Some(reason);
        }
    }
    match serde_json::to_vec(&l) {
        Ok(text) => out.write_all(&text)?,
        // A row that cannot be JSON (a NaN, bad JSON text) fails the record.
        Err(e) if e.is_data() => {
            l.outcome = "failed";
            l.rows = None;
            l.changes = None;
            l.class = Some("invalid_row");
            let reason = e.to_string();
            l.reason = Some(&reason);
            serde_json::to_writer(&mut *out, &l)?;
        }
        Err(e) => return Err(e.into()),
    }
    writeln!(out)?;
    Ok(())
}

/// `{"hex": "..."}` or `{"base64": "..."}` as bytes (`None` for anything else,
/// or text that does not decode).
fn bytes_of(v: &Json) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let Json::Object(m) = v else { return None };
    if m.len() != 1 {
        return None;
    }
    match m.iter().next()? {
        (k, Json::String(s)) if k == "hex" => hex::decode(s.trim()).ok(),
        (k, Json::String(s)) if k == "base64" => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok(),
        _ => None,
    }
}
