//! Paths of the transform components built for the tests by `build.rs`.

macro_rules! artifact {
    ($($name:ident => $file:literal),* $(,)?) => {$(
        #[doc = concat!("`", $file, "`, built from the workspace.")]
        pub const $name: &str = concat!(env!("KMV_WASM_DIR"), "/", $file);
    )*};
}

artifact! {
    PASSTHROUGH => "passthrough.wasm",
    RENAME => "rename.wasm",
    FILTER => "filter.wasm",
    SEED => "seed.wasm",
    EMBED_TITLE => "embed_title.wasm",
    CDC => "cdc.wasm",
    FAULTY => "faulty.wasm",
    WRONG_VERSION => "wrong_version.wasm",
    SWAP_V1 => "swap_v1.wasm",
    SWAP_V2 => "swap_v2.wasm",
    SWAP_FAIL_INIT => "swap_fail_init.wasm",
    SWAP_TRAP => "swap_trap.wasm",
    SWAP_BAD_SCHEMA => "swap_bad_schema.wasm",
    EVERY_TYPE => "every_type.wasm",
    ROUTER => "router.wasm",
    CONTRACT_0_1 => "contract_0_1.wasm",
    CONTRACT_0_2 => "contract_0_2.wasm",
    AVRO_IN_GUEST => "avro_in_guest.wasm",
}
