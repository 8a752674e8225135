//! `kmv-host init` against the real Milvus 2.3.5: the file it writes for an
//! existing collection runs end to end as it is (with the seed transform
//! named by --module); a missing collection is refused with (some of) the names
//! that exist, and an existing file is kept unless --force.

mod common;

use common::*;
use std::process::Command;

fn kmv_host(args: &[&str]) -> std::process::Output {
    Command::new(common::host_bin())
        .args(args)
        .output()
        .expect("running kmv-host")
}

#[test]
fn init_writes_a_pipeline_that_runs_as_it_is() {
    let uri = milvus();
    let collection = unique("init");
    create_seed(&uri, &collection);
    let topic = unique("init");
    produce(&topic, &articles(0..50, 8));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.toml");
    let file_arg = file.to_str().unwrap();
    let args = [
        "init",
        "--endpoint",
        &uri,
        "--collection",
        &collection,
        "--topic",
        &topic,
        "--brokers",
        &kafka(),
        "--module",
        kmv_test_artifacts::SEED,
        "-o",
        file_arg,
    ];
    let out = kmv_host(&args);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&file).unwrap();
    for want in [
        "#   id            Int64, primary key (every row sets it)",
        "#   title_vector  FloatVector dim 8, required",
        "#   link          VarChar(max_length 512), required",
        "write_mode = \"upsert\"",
        "(dynamic fields off",
    ] {
        assert!(written.contains(want), "{want:?} not in:\n{written}");
    }

    // Not over an existing file without --force.
    let again = kmv_host(&args);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("exists; pass --force"),
        "{}",
        text(&again)
    );

    // The file runs as it is (a shorter session for the test broker).
    let log = run_ok(&file, 3.0);
    assert_summary(&log, "records_in=50 rows_written=50 failed=0");
    assert_exactly_articles(&uri, &collection, 50);

    // A collection that is not there: refused, with what exists; no file.
    let missing = dir.path().join("missing.toml");
    let out = kmv_host(&[
        "init",
        "--endpoint",
        &uri,
        "--collection",
        "no_such_collection",
        "--topic",
        "t",
        "-o",
        missing.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("cannot describe collection `no_such_collection`")
            && said.contains("does not exist")
            && said.contains("(it has: `"),
        "{said}"
    );
    assert!(!missing.exists());
}
