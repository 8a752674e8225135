//! Logs for log shippers and people: `--log-format json` writes one JSON
//! object per line (level, target, fields, message), `--log-level` and
//! `RUST_LOG` both filter, and the transform version is a field of the
//! per-record failure lines and the progress lines.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn faulty_pipeline(dir: &std::path::Path) -> String {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!("[transform]\nmodule = {:?}\n", kmv_test_artifacts::FAULTY),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `kmv-host test` over one record that traps, with `args` and `RUST_LOG`.
fn test_a_trap(args: &[&str], rust_log: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = faulty_pipeline(dir.path());
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, "{\"fault\": \"trap\"}\n").unwrap();
    let mut cmd = Command::new(host_bin());
    cmd.args(["test", "--pipeline", &pipeline, "--input"])
        .arg(&input)
        .args(args)
        .env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    cmd.output().expect("running kmv-host")
}

/// Each stderr line as JSON (the test fails on a line that is not an object).
fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

const FAULT_LINE: &str = "Transform fault isolated to one record.";

fn has_fault_line(out: &Output) -> bool {
    String::from_utf8_lossy(&out.stderr).contains(FAULT_LINE)
}

#[test]
fn json_log_lines_have_level_target_fields_and_message() {
    let out = test_a_trap(&["--log-format", "json"], Some("kmv_host=debug"));
    assert!(out.status.success(), "{}", text(&out));
    let lines = json_lines(&out);
    let line = lines
        .iter()
        .find(|l| l["message"] == FAULT_LINE)
        .unwrap_or_else(|| panic!("no fault line in {lines:?}"));
    assert_eq!(line["level"], "DEBUG", "{line}");
    assert_eq!(line["target"], "kmv_host::transform::worker", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    // Fields are keys of the object, with their types.
    assert_eq!(line["kind"], "trap", "{line}");
    assert_eq!(line["offset"], 0, "{line}");
    assert!(
        line["transform"]
            .as_str()
            .is_some_and(|t| t.starts_with("faulty.wasm@") && t.len() == "faulty.wasm@".len() + 12),
        "{line}"
    );
}

#[test]
fn log_level_comes_from_the_flag_or_rust_log() {
    let json = ["--log-format", "json"];
    assert!(has_fault_line(&test_a_trap(&json, Some("kmv_host=debug"))));
    assert!(!has_fault_line(&test_a_trap(&json, Some("warn"))));
    // The default level is info.
    assert!(!has_fault_line(&test_a_trap(&json, None)));
    let with_flag = |level: &str, rust_log| {
        test_a_trap(&["--log-format", "json", "--log-level", level], rust_log)
    };
    assert!(has_fault_line(&with_flag("kmv_host=debug", None)));
    // The flag wins over RUST_LOG.
    assert!(!has_fault_line(&with_flag("warn", Some("debug"))));
    assert!(has_fault_line(&with_flag("debug", Some("warn"))));
}

#[test]
fn a_bad_http_address_is_refused_with_the_expected_form() {
    let out = Command::new(host_bin())
        .args(["--pipeline", "p.toml", "--http-address", "localhost"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--http-address"), "{err}");
    assert!(err.contains("not HOST:PORT or PORT"), "{err}");
}

#[test]
fn a_running_pipeline_logs_failures_and_progress_with_the_transform_version() {
    let (uri, topic) = (milvus(), unique("obs_logs"));
    create_seed(&uri, &topic);
    let mut records = articles(0..3, 8);
    records.push(("bad".into(), b"not json".to_vec()));
    produce(&topic, &records);
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&uri, &topic)
        .sink("write_mode = \"insert\"")
        .errors("policy = \"log\"\n")
        .write();
    let out = Command::new(host_bin())
        .arg("--pipeline")
        .arg(&p)
        .args([
            "--stop-when-idle",
            "2",
            "--progress-interval",
            PROGRESS_INTERVAL,
        ])
        .args(["--log-format", "json", "--log-level", "info"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines = json_lines(&out);
    let with = |message: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    let failed = with("Record failed; logged and skipped.");
    assert_eq!(failed.len(), 1, "{lines:?}");
    let failed = failed[0];
    assert_eq!(failed["level"], "WARN", "{failed}");
    assert_eq!(failed["target"], "kmv_host::pipeline", "{failed}");
    assert_eq!(failed["class"], "transform_error", "{failed}");
    assert!(failed["offset"].is_i64(), "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not valid JSON")),
        "{failed}"
    );
    let version = failed["transform"].as_str().unwrap_or_default();
    assert!(version.starts_with("passthrough.wasm@"), "{failed}");
    let progress = with("Progress.");
    assert!(!progress.is_empty(), "{lines:?}");
    assert!(
        progress.iter().all(|l| l["transform"] == version),
        "{progress:?}"
    );
    let stopped = with("Pipeline stopped.");
    assert_eq!(stopped.len(), 1, "{lines:?}");
    assert_eq!(stopped[0]["records_in"], 4, "{}", stopped[0]);
    assert_eq!(stopped[0]["rows_written"], 3, "{}", stopped[0]);
    assert_eq!(wait_count(&uri, None, &topic, 3), 3);
}
