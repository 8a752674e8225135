//! `PipelineFile`: a pipeline file for a test, built with named parts.

use std::path::{Path, PathBuf};

/// A pipeline file to write into a test's directory:
///
/// ```ignore
/// let p = PipelineFile::new(dir.path())
///     .topic(&topic)
///     .module(kmv_test_artifacts::FAULTY)
///     .sink(&sink)
///     .transform_keys("call_timeout_ms = 300")
///     .errors(r#"policy = "stop""#)
///     .write();
/// ```
///
/// Brokers default to the shared test broker ([`super::kafka`]), the group
/// to a fresh `unique("g")`, the session timeout to 6 s, `sink.linger_ms`
/// to 100. The file is `DIR/GROUP.toml`.
#[derive(Clone, Debug)]
pub struct PipelineFile {
    dir: PathBuf,
    brokers: Option<String>,
    topic: String,
    group: String,
    session_timeout_ms: u32,
    source_properties: String,
    source_keys: String,
    module: String,
    transform_keys: String,
    transform_config: String,
    milvus: String,
    sink: String,
    linger_ms: u64,
    tables: String,
}

impl PipelineFile {
    pub fn new(dir: &Path) -> PipelineFile {
        PipelineFile {
            dir: dir.to_path_buf(),
            brokers: None,
            topic: String::new(),
            group: super::unique("g"),
            session_timeout_ms: 6000,
            source_properties: String::new(),
            source_keys: String::new(),
            module: String::new(),
            transform_keys: String::new(),
            transform_config: String::new(),
            milvus: String::new(),
            sink: String::new(),
            linger_ms: 100,
            tables: String::new(),
        }
    }

    /// `source.brokers` (default: the shared test broker).
    pub fn brokers(mut self, brokers: &str) -> Self {
        self.brokers = Some(brokers.to_string());
        self
    }

    /// The one `source.topics` entry.
    pub fn topic(mut self, topic: &str) -> Self {
        self.topic = format!("\"{topic}\"");
        self
    }

    /// Several `source.topics`.
    pub fn topics(mut self, topics: &[&str]) -> Self {
        let quoted: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
        self.topic = quoted.join(", ");
        self
    }

    /// `source.group_id`; also the file's name.
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// The group session (default 6 s); below 6 s the heartbeat is set to a
    /// sixth of it, so that the broker drops a killed member sooner.
    pub fn session_timeout_ms(mut self, ms: u32) -> Self {
        self.session_timeout_ms = ms;
        self
    }

    /// More entries of `[source.properties]`, after the session timeout,
    /// e.g. `"max.poll.interval.ms" = "15000"`.
    pub fn source_properties(mut self, properties: &str) -> Self {
        self.source_properties = properties.to_string();
        self
    }

    /// More keys of `[source]`, e.g. `value_format = "avro"`.
    pub fn source_keys(mut self, keys: &str) -> Self {
        self.source_keys = keys.to_string();
        self
    }

    /// `transform.module`.
    pub fn module(mut self, module: &str) -> Self {
        self.module = module.to_string();
        self
    }

    /// More keys of `[transform]`, e.g. `call_timeout_ms = 300`.
    pub fn transform_keys(mut self, keys: &str) -> Self {
        self.transform_keys = keys.to_string();
        self
    }

    /// The body of `[transform.config]`.
    pub fn transform_config(mut self, config: &str) -> Self {
        self.transform_config = config.to_string();
        self
    }

    /// `sink.endpoint` and `sink.collection`.
    pub fn milvus(mut self, uri: &str, collection: &str) -> Self {
        self.milvus = format!("endpoint = \"{uri}\"\ncollection = \"{collection}\"");
        self
    }

    /// More keys of `[sink]` (`batch_max_rows = 64`, ...), after those of
    /// [`milvus`](Self::milvus).
    pub fn sink(mut self, sink: &str) -> Self {
        self.sink = sink.to_string();
        self
    }

    /// `sink.linger_ms` (default 100).
    pub fn linger_ms(mut self, ms: u64) -> Self {
        self.linger_ms = ms;
        self
    }

    /// An `[errors]` table with these keys (sub-tables such as
    /// `[errors.dead_letter_properties]` may follow them).
    pub fn errors(self, keys: &str) -> Self {
        self.tables(&format!("[errors]\n{keys}"))
    }

    /// More tables at the end of the file (e.g. `[embedders.NAME]`).
    pub fn tables(mut self, tables: &str) -> Self {
        if !self.tables.is_empty() && !self.tables.ends_with('\n') {
            self.tables.push('\n');
        }
        self.tables.push_str(tables);
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let brokers = self.brokers.clone().unwrap_or_else(super::kafka);
        let mut properties = format!("\"session.timeout.ms\" = \"{}\"", self.session_timeout_ms);
        if self.session_timeout_ms < 6000 {
            properties += &format!(
                "\n\"heartbeat.interval.ms\" = \"{}\"",
                self.session_timeout_ms / 6
            );
        }
        if !self.source_properties.is_empty() {
            properties += &format!("\n{}", self.source_properties);
        }
        let sink = [self.milvus.as_str(), self.sink.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            r#"[source]
brokers = "{brokers}"
topics = [{topic}]
group_id = "{group}"
{source_keys}

[source.properties]
{properties}

[transform]
module = "{module}"
{transform_keys}

[transform.config]
{transform_config}

[sink]
{sink}
linger_ms = {linger_ms}

{tables}
"#,
            topic = self.topic,
            group = self.group,
            source_keys = self.source_keys,
            module = self.module,
            transform_keys = self.transform_keys,
            transform_config = self.transform_config,
            linger_ms = self.linger_ms,
            tables = self.tables,
        )
    }

    /// Writes the file into the directory; its path.
    pub fn write(&self) -> PathBuf {
        assert!(
            !self.topic.is_empty() && !self.module.is_empty(),
            "a pipeline file needs a topic and a module: {self:?}"
        );
        let path = self.dir.join(format!("{}.toml", self.group));
        std::fs::write(&path, self.text()).unwrap();
        path
    }
}
