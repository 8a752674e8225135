use super::*;

/// Every file of the SDK is written into a new crate (a file added to
/// guest-sdk must be added to SDK_FILES).
#[test]
fn every_sdk_file_comes_with_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    let mut on_disk = Vec::new();
    for dir in ["src", "wit"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            on_disk.push(format!(
                "{dir}/{}",
                entry.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    on_disk.sort();
    let mut built_in: Vec<String> = SDK_FILES.iter().map(|(p, _)| p.to_string()).collect();
    built_in.sort();
    assert_eq!(built_in, on_disk);
}

#[test]
fn a_crate_names_no_path_of_this_repository() {
    for template in [
        Template::Passthrough,
        Template::Rename,
        Template::Filter,
        Template::Embed,
        Template::Cdc,
    ] {
        for (path, text) in crate_files("my-transform", template) {
            assert!(
                !text.contains("../../") && !text.contains(env!("CARGO_MANIFEST_DIR")),
                "{path} of {template:?} names a path outside the crate"
            );
        }
        let pipeline = template.pipeline("my-transform", "my_transform");
        let parsed: crate::config::PipelineConfig = toml::from_str(&pipeline).unwrap();
        assert_eq!(
            parsed.transform.module.get_ref().to_str().unwrap(),
            "target/wasm32-wasip2/release/my_transform.wasm"
        );
    }
}

#[test]
fn names_that_are_not_crate_names_are_refused() {
    for bad in ["", "1abc", "a b", "a/b", "kmv-guest", "é"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    check_name("my-transform_2").unwrap();
}
