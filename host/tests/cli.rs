//! The `kmv-host` binary on the seed example, as a user runs it.

mod common;

use common::repo;
use std::path::Path;
use std::process::Command;

/// examples/seed/pipeline.toml as it is, but with the module the artifacts
/// crate built (the example names target/wasm32-wasip2/release/seed.wasm,
/// which `cargo build --release --target wasm32-wasip2 -p seed` makes).
fn seed_pipeline(dir: &Path) -> String {
    example_pipeline(dir, "seed", kmv_test_artifacts::SEED)
}

/// examples/NAME/pipeline.toml with `module` the artifacts crate built.
fn example_pipeline(dir: &Path, name: &str, module: &str) -> String {
    let text =
        std::fs::read_to_string(repo().join(format!("examples/{name}/pipeline.toml"))).unwrap();
    let example_module = format!("module = \"../../target/wasm32-wasip2/release/{name}.wasm\"");
    assert!(
        text.contains(&example_module),
        "the {name} example no longer names {example_module}"
    );
    let text = text.replace(&example_module, &format!("module = {module:?}"));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn kmv_host(args: &[&str]) -> std::process::Output {
    Command::new(common::host_bin())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("running kmv-host")
}

#[test]
fn test_prints_the_seed_row() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_pipeline(dir.path());
    let out = kmv_host(&[
        "test",
        "--pipeline",
        &pipeline,
        "--input",
        "examples/seed/records.jsonl",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("line 1 (offset 0): 1 row"), "{stdout}");
    assert!(
        stdout
            .contains(r#""title": "The Reported Mortality Rate of Coronavirus Is Not Important""#),
        "{stdout}"
    );
    // seed hands the vector over as the JSON text it arrived in.
    assert!(
        stdout.contains("\"title_vector\": [0.041732933, 0.013779674,"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 records: 1 rows, 0 skipped, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn test_json_output_and_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_pipeline(dir.path());
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"id": 1, "title": "a", "title_vector": [1,2,3,4,5,6,7,8], "link": "l"}"#, "\n",
            r#"{"key": "k1", "value": {"id": 2, "title": "b", "title_vector": [1,2,3,4,5,6,7,8], "link": "l"}, "headers": {"h": "v"}, "offset": 42}"#, "\n",
            "\n",
            "not json at all\n",
            r#"{"key": "gone", "value": null}"#, "\n",
        ),
    )
    .unwrap();
    let out = kmv_host(&[
        "test",
        "--pipeline",
        &pipeline,
        "--input",
        input.to_str().unwrap(),
        "--output",
        "json",
        "--fail-on-error",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--fail-on-error with failed records exits 1"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "rows");
    assert_eq!(lines[0]["rows"][0]["title_vector"][7], 8.0);
    assert_eq!(lines[1]["outcome"], "rows");
    assert_eq!(lines[1]["offset"], 42);
    assert_eq!(lines[1]["rows"][0]["id"], 2);
    assert_eq!(lines[2]["outcome"], "failed");
    assert_eq!(lines[2]["class"], "transform_error");
    assert!(
        lines[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the value is not valid JSON")
    );
    assert_eq!(lines[3]["line"], 5);
    assert!(
        lines[3]["reason"].as_str().unwrap().contains("tombstone"),
        "{}",
        lines[3]
    );
}

#[test]
fn check_validates_config_module_and_init() {
    let dir = tempfile::tempdir().unwrap();
    let out = kmv_host(&["check", "--pipeline", &seed_pipeline(dir.path())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("implements kmv:transform@0.3.0"),
        "{stdout}"
    );
    // A module built for the older contract says so.
    let old = dir.path().join("old.toml");
    let text = std::fs::read_to_string(seed_pipeline(dir.path()))
        .unwrap()
        .replace(kmv_test_artifacts::SEED, kmv_test_artifacts::CONTRACT_0_1);
    std::fs::write(&old, text).unwrap();
    let out = kmv_host(&["check", "--pipeline", old.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("implements kmv:transform@0.1.0"),
        "{stdout}"
    );

    let bad = dir.path().join("p.toml");
    std::fs::write(
        &bad,
        format!(
            "[transform]\nmodule = {:?}\n[transform.config]\nrenmaes = {{ a = \"b\" }}\n",
            kmv_test_artifacts::RENAME
        ),
    )
    .unwrap();
    let out = kmv_host(&["check", "--pipeline", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(
            "refused its [transform.config]: [transform.config]: unknown field `renmaes`"
        ),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_commands() {
    let out = kmv_host(&["--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["--pipeline", "check", "test", "--log-format"] {
        assert!(stdout.contains(needle), "--help lacks {needle}: {stdout}");
    }
}

#[test]
fn every_example_pipeline_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .flatten()
    {
        let path = entry.path().join("pipeline.toml");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let config =
            kmv_host::config::PipelineConfig::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            config.source.is_some() && config.sink.is_some(),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 2,
        "expected the seed and zilliz examples, found {seen}"
    );
}

#[test]
fn global_log_flags_go_before_or_after_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_pipeline(dir.path());
    for args in [
        vec![
            "--log-format",
            "json",
            "--log-level",
            "warn",
            "check",
            "--pipeline",
            &pipeline,
        ],
        vec!["check", "--pipeline", &pipeline, "--log-format", "json"],
    ] {
        let out = kmv_host(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("config is valid"));
    }
}

#[test]
fn run_flags_before_a_command_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = seed_pipeline(dir.path());
    let out = kmv_host(&["--pipeline", &pipeline, "check", "--pipeline", &pipeline]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--pipeline before `check` belongs to running a pipeline")
            && stderr.contains("kmv-host check --pipeline FILE"),
        "{stderr}"
    );
}

/// The CDC example's records through its transform: upserts for `c`, `r`
/// and `u`, a delete for `d` and for the tombstone after it, in both
/// converter settings.
#[test]
fn test_shows_the_cdc_example_as_changes() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = example_pipeline(dir.path(), "cdc", kmv_test_artifacts::CDC);
    let args = [
        "test",
        "--pipeline",
        &pipeline,
        "--input",
        "examples/cdc/records.jsonl",
        "--output",
        "json",
    ];
    let out = kmv_host(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11, "{lines:?}");
    let mut rows = 0;
    let mut deletes = Vec::new();
    for line in &lines {
        assert_eq!(line["outcome"], "changes", "{line}");
        for change in line["changes"].as_array().unwrap() {
            assert_eq!(change["collection"], "articles", "{change}");
            if let Some(keys) = change.get("delete") {
                deletes.extend(keys.as_array().unwrap().iter().map(|k| k.as_i64().unwrap()));
            } else {
                assert!(change["row"]["title_vector"].as_array().unwrap().len() == 8);
                rows += 1;
            }
        }
    }
    assert_eq!((rows, deletes), (7, vec![2, 2, 0, 0]));
}
