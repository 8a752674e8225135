//! Snapshot tests of rejected pipeline files: each `ui/NAME.toml` must fail
//! to load with exactly the message in `ui/NAME.err`.
//! Run with `UPDATE_SNAPSHOTS=1` to rewrite the `.err` files after a deliberate change.

use kmv_host::config::PipelineConfig;
use std::path::Path;

#[test]
fn rejected_configs_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut checked = 0;
    let mut failures = vec![];
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for toml in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let name = toml.file_name().unwrap().to_string_lossy().into_owned();
        // Load by a path relative to the ui folder so messages are stable.
        let message = match PipelineConfig::load(&dir.join(&name)) {
            Ok(_) => "<loaded without error>".to_string(),
            Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
        };
        let err_file = toml.with_extension("err");
        if update {
            std::fs::write(&err_file, format!("{message}\n")).unwrap();
        }
        let expected = std::fs::read_to_string(&err_file).unwrap_or_default();
        if expected.trim_end() != message {
            failures.push(format!(
                "{name}:\n  expected: {}\n  actual:   {message}",
                expected.trim_end()
            ));
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} snapshots found in {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "config error snapshots differ (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.join("\n")
    );
}
