//! MessagePack, the form decoded record values reach a 0.3.0 transform in
//! (`source::decode`), as JSON text: for transforms built for older
//! contracts (`transform::worker`) and for people (`kmv-host test`).

/// A decoded value's MessagePack as JSON text, appended to `out`: what
/// transforms built for contracts older than 0.3.0 read, and what
/// `kmv-host test` shows.
pub fn to_json(packed: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut de = rmp_serde::Deserializer::from_read_ref(packed);
    let mut ser = serde_json::Serializer::new(out);
    serde_transcode::transcode(&mut de, &mut ser)
        .map_err(|e| format!("the decoded value cannot be written as JSON: {e}"))
}
