//! Protobuf: the registry's schema (.proto text, or a base64
//! `FileDescriptorProto`) compiled with `protox`, its references and
//! Google's well-known types resolved; a message decoded by its descriptor
//! (`prost-reflect`) and written as JSON with the field names of the .proto
//! file, every field present (zero values too), 64-bit integers as numbers
//! and enums as their names. Google's well-known types keep their JSON
//! mapping (a `Timestamp` is RFC 3339 text whatever `[source] timestamps` says).

use base64::Engine as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use std::collections::HashMap;

/// A compiled schema: the file's messages by their index path.
#[derive(Debug)]
pub struct ProtoSchema {
    file: prost_reflect::FileDescriptor,
}

/// The registry's files by name (the schema itself and its references).
struct Files(HashMap<String, String>);

impl FileResolver for Files {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let Some(text) = self.0.get(name) else {
            return Err(protox::Error::file_not_found(name));
        };
        if let Some(descriptor) = base64_descriptor(text) {
            return File::decode_file_descriptor_proto(descriptor.as_slice())
                .map_err(|e| protox::Error::new(e.to_string()));
        }
        File::from_source(name, text)
    }
}

/// A schema sent as a base64 `FileDescriptorProto` (what the registry
/// returns with `?format=serialized`, and what some clients register).
fn base64_descriptor(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.contains(char::is_whitespace) || t.contains(';') {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(t).ok()
}

/// The name the schema itself is compiled under (references keep theirs).
const MAIN: &str = "kmv-registry-schema.proto";

impl ProtoSchema {
    /// Compiles `text`, whose imports are among `references` (name, text).
    pub fn compile(text: &str, references: &[(String, String)]) -> Result<ProtoSchema, String> {
        let mut files: HashMap<String, String> = references.iter().cloned().collect();
        files.insert(MAIN.to_string(), text.to_string());
        let mut chain = ChainFileResolver::new();
        chain.add(Files(files));
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        compiler.open_file(MAIN).map_err(|e| e.to_string())?;
        let pool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(MAIN)
            .ok_or("the compiled schema has no file")?;
        Ok(ProtoSchema { file })
    }

    /// The message at `indexes` (top-level message, then nested ones).
    fn message(&self, indexes: &[usize]) -> Result<MessageDescriptor, String> {
        let (first, rest) = indexes.split_first().ok_or("no message index")?;
        let mut message = self.file.messages().nth(*first).ok_or_else(|| {
            format!("the schema has no message at index {first} (message indexes {indexes:?})")
        })?;
        for &i in rest {
            let child = message.child_messages().nth(i);
            message = child.ok_or_else(|| {
                format!(
                    "the schema has no nested message at index {i} (message indexes {indexes:?})"
                )
            })?;
        }
        Ok(message)
    }

    /// Decodes the message at `indexes` from `bytes` as JSON text into `out`.
    pub fn to_json(
        &self,
        indexes: &[usize],
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let serializer = &mut serde_json::Serializer::new(out);
        self.write(indexes, bytes, serializer, "JSON")
    }

    /// Decodes the message at `indexes` from `bytes` as MessagePack into
    /// `out`, with the JSON mapping (the serializer says it is human
    /// readable, so bytes are base64 text and well-known types their JSON
    /// form, as in [`ProtoSchema::to_json`]).
    pub fn to_pack(
        &self,
        indexes: &[usize],
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let serializer = &mut rmp_serde::Serializer::new(out)
            .with_struct_map()
            .with_human_readable();
        self.write(indexes, bytes, serializer, "MessagePack")
    }

    /// Decodes the message at `indexes` from `bytes` and writes it with
    /// `serializer` (`form` names what it writes, for the error).
    fn write<S: serde::Serializer>(
        &self,
        indexes: &[usize],
        bytes: &[u8],
        serializer: S,
        form: &str,
    ) -> Result<(), String> {
        let descriptor = self.message(indexes)?;
        let name = descriptor.full_name().to_string();
        let message = DynamicMessage::decode(descriptor, bytes)
            .map_err(|e| format!("the bytes are not a {name} message: {e}"))?;
        message
            .serialize_with_options(serializer, &options())
            .map(|_| ())
            .map_err(|e| format!("{name} cannot be written as {form}: {e}"))
    }
}

/// The JSON mapping Kafka users expect: .proto field names, zero values
/// written, 64-bit integers as numbers, enums by name.
fn options() -> SerializeOptions {
    SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .use_enum_numbers(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = r#"syntax = "proto3";
package kmv.seed;
import "google/protobuf/timestamp.proto";
message Article {
  int64 id = 1;
  string title = 2;
  repeated float title_vector = 3;
  string link = 4;
  Kind kind = 5;
  google.protobuf.Timestamp at = 6;
  message Inner { bytes b = 1; }
  enum Kind { NEWS = 0; SCIENCE = 1; }
}
"#;

    /// The message as JSON text; checks that its MessagePack (what a 0.3.0
    /// transform gets) converts to the same text.
    fn json(schema: &ProtoSchema, indexes: &[usize], bytes: &[u8]) -> Result<String, String> {
        let mut out = Vec::new();
        schema.to_json(indexes, bytes, &mut out)?;
        let mut packed = Vec::new();
        schema.to_pack(indexes, bytes, &mut packed).unwrap();
        let mut text = Vec::new();
        crate::source::decode::to_json(&packed, &mut text).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&out)
        );
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn fields_by_proto_name_zero_values_present_int64_as_numbers() {
        let s = ProtoSchema::compile(ARTICLE, &[]).unwrap();
        // title_vector = [0.5, -2.5] (packed), kind = SCIENCE, id = 0 (absent).
        let mut bytes = vec![0x1a, 8];
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.5f32).to_le_bytes());
        bytes.extend_from_slice(&[0x28, 1, 0x32, 2, 0x08, 1]);
        assert_eq!(
            json(&s, &[0], &bytes).unwrap(),
            r#"{"id":0,"title":"","title_vector":[0.5,-2.5],"link":"","kind":"SCIENCE","at":"1970-01-01T00:00:01Z"}"#
        );
        assert_eq!(
            json(&s, &[0, 0], &[0x0a, 1, 0xff]).unwrap(),
            r#"{"b":"/w=="}"#
        );
        assert!(
            json(&s, &[3], &[])
                .unwrap_err()
                .contains("no message at index 3")
        );
        assert!(
            json(&s, &[0], &[0x0a, 9])
                .unwrap_err()
                .contains("not a kmv.seed.Article")
        );
    }

    #[test]
    fn a_serialized_descriptor_and_references() {
        let dep = "syntax = \"proto3\";\npackage a;\nmessage Address { string city = 1; }\n";
        let main = "syntax = \"proto3\";\npackage a;\nimport \"a/address.proto\";\nmessage Person { Address home = 1; }\n";
        let s = ProtoSchema::compile(main, &[("a/address.proto".into(), dep.into())]).unwrap();
        assert_eq!(
            json(&s, &[0], &[0x0a, 3, 0x0a, 1, b'x']).unwrap(),
            r#"{"home":{"city":"x"}}"#
        );
        assert!(ProtoSchema::compile(main, &[]).is_err());
        // The same dependency as a base64 FileDescriptorProto.
        let set = {
            let mut c = protox::Compiler::with_file_resolver(Files(
                [("a/address.proto".to_string(), dep.to_string())].into(),
            ));
            c.open_file("a/address.proto").unwrap();
            c.file_descriptor_set()
        };
        let encoded = {
            use prost::Message as _;
            base64::engine::general_purpose::STANDARD.encode(set.file[0].encode_to_vec())
        };
        let s = ProtoSchema::compile(main, &[("a/address.proto".into(), encoded)]).unwrap();
        assert_eq!(
            json(&s, &[0], &[0x0a, 3, 0x0a, 1, b'y']).unwrap(),
            r#"{"home":{"city":"y"}}"#
        );
    }
}
