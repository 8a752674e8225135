//! The decoder with a local schema, and decoded batches.

use super::*;

fn record(offset: i64, value: Option<Vec<u8>>) -> KafkaRecord {
    KafkaRecord::new("t", 0, offset, value)
}

const ARTICLE: &str = r#"{"type":"record","name":"A","fields":[{"name":"id","type":"long"},{"name":"v","type":{"type":"array","items":"float"}}]}"#;

fn avro_decoder() -> Decoder {
    let schemas = Schemas::File {
        kind: "AVRO".into(),
        text: ARTICLE.into(),
    };
    Decoder::new(Format::Raw, Format::Avro, Mapping::default(), schemas)
}

#[test]
fn framed_avro_becomes_message_pack_and_bad_records_fail_alone() {
    let mut d = avro_decoder();
    // id 3 (zigzag 6), v = [1.5] (one block of 1, then the end).
    let mut good = vec![6, 2];
    good.extend_from_slice(&1.5f32.to_le_bytes());
    good.push(0);
    let records = vec![
        record(0, Some(wire::frame(9, &good))),
        record(1, Some(b"{\"id\": 3}".to_vec())),
        record(2, Some(wire::frame(9, &good[..3]))),
        record(3, None),
    ];
    let results = d.decode_now(&records).unwrap();
    assert_eq!(d.value_form(), ValueForm::MessagePack);
    // A map of 2: "id" 3, "v" an array (full-width header, count 1) of f32 1.5.
    let mut packed = vec![
        0x82, 0xa2, b'i', b'd', 3, 0xa1, b'v', 0xdd, 0, 0, 0, 1, 0xca,
    ];
    packed.extend_from_slice(&1.5f32.to_be_bytes());
    let value = results[0].as_ref().unwrap().value.clone().unwrap();
    assert_eq!(value, packed);
    let mut text = Vec::new();
    to_json(&value, &mut text).unwrap();
    assert_eq!(text, br#"{"id":3,"v":[1.5]}"#);
    // A key is decoded to JSON text, whatever the value's form.
    let mut keyed = Decoder::new(
        Format::Avro,
        Format::Json,
        Mapping::default(),
        Schemas::File {
            kind: "AVRO".into(),
            text: ARTICLE.into(),
        },
    );
    let mut r = record(4, Some(b"{}".to_vec()));
    r.key = Some(wire::frame(9, &good));
    let keyed = keyed.decode_now(&[r]).unwrap();
    let keyed = keyed[0].as_ref().unwrap();
    assert_eq!(keyed.key.as_deref(), Some(&br#"{"id":3,"v":[1.5]}"#[..]));
    assert_eq!(keyed.value.as_deref(), Some(&b"{}"[..]));
    let reason = results[1].as_ref().unwrap_err();
    assert!(reason.contains("magic byte 0"), "{reason}");
    assert!(
        reason.starts_with("the value cannot be decoded as avro"),
        "{reason}"
    );
    assert!(results[2].as_ref().unwrap_err().contains("ends early"));
    // A tombstone stays a tombstone.
    assert_eq!(results[3].as_ref().unwrap().value, None);

    let batch = Decoded::from_results(records, results, d.value_form());
    assert_eq!(batch.transform_input().len(), 2);
    let placed = batch.place(vec!["a", "b"]);
    assert_eq!(placed[0], Ok("a"));
    assert!(placed[1].is_err() && placed[2].is_err());
    assert_eq!(placed[3], Ok("b"));
}

#[test]
fn a_schema_of_another_type_fails_the_record() {
    let schemas = Schemas::File {
        kind: "AVRO".into(),
        text: ARTICLE.into(),
    };
    let mut d = Decoder::new(Format::Raw, Format::Protobuf, Mapping::default(), schemas);
    let results = d
        .decode_now(&[record(0, Some(wire::frame(1, &[0])))])
        .unwrap();
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .contains("schema id 1 is a AVRO schema, not PROTOBUF")
    );
}

#[test]
fn json_schema_takes_the_framing_off_and_validates() {
    let schemas = Schemas::File {
        kind: "JSON".into(),
        text: r#"{"properties": {"id": {"type": "integer"}}, "required": ["id"]}"#.into(),
    };
    let mut d = Decoder::new(Format::Raw, Format::JsonSchema, Mapping::default(), schemas);
    let results = d
        .decode_now(&[
            record(0, Some(wire::frame(1, br#"{"id": 1}"#))),
            record(1, Some(wire::frame(1, b"{oops"))),
            record(2, Some(wire::frame(1, br#"{"id": "one"}"#))),
            record(3, Some(wire::frame(1, br#"{"id": 2}"#))),
        ])
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().value.as_deref(),
        Some(&br#"{"id": 1}"#[..])
    );
    assert!(results[1].as_ref().unwrap_err().contains("not JSON"));
    let reason = results[2].as_ref().unwrap_err();
    assert!(
        reason.starts_with("the value cannot be decoded as json_schema: the payload does not match the schema at /id:"),
        "{reason}"
    );
    assert!(reason.ends_with("(schema id 1)"), "{reason}");
    assert!(results[3].is_ok());
}

#[test]
fn a_json_schema_that_does_not_compile_fails_its_records() {
    let schemas = Schemas::File {
        kind: "JSON".into(),
        text: r#"{"$ref": "https://example.com/elsewhere.json"}"#.into(),
    };
    let mut d = Decoder::new(Format::Raw, Format::JsonSchema, Mapping::default(), schemas);
    let results = d
        .decode_now(&[record(0, Some(wire::frame(4, b"{}")))])
        .unwrap();
    let reason = results[0].as_ref().unwrap_err();
    assert!(
        reason.contains("schema id 4 (JSON) cannot be used"),
        "{reason}"
    );
}

#[test]
fn formats_that_need_a_registry_say_so() {
    let e = validate(Format::Json, Format::Avro, None).unwrap_err();
    assert_eq!(e.key, "value_format");
    assert!(
        e.message.contains("[source.schema_registry]"),
        "{}",
        e.message
    );
    assert!(validate(Format::Raw, Format::Json, None).is_ok());
}
