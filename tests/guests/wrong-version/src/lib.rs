//! A transform built against `kmv:transform@9.0.0`, which the host does not
//! run: loading it must fail with a message naming both versions.
#![allow(unsafe_code)]

wit_bindgen::generate!({ path: "wit", world: "transform" });

struct WrongVersion;

impl Guest for WrongVersion {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(records: Vec<KafkaRecord>) -> Vec<Outcome> {
        records.iter().map(|_| Outcome::Skip).collect()
    }
}

export!(WrongVersion);
