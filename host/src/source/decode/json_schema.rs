//! JSON Schema payloads: the registry's schema compiled once per schema id
//! (with the schemas it references, which come from the registry only:
//! nothing is fetched over the network or read from files), and each
//! payload validated against it.
//!
//! The draft is the one `$schema` names (draft-04, -06, -07, 2019-09,
//! 2020-12), draft-07 when there is none (what Confluent's serializers
//! write). A `$schema` naming another meta-schema, or a `$ref` to a
//! document that is not among the schema's registry references, makes the
//! schema unusable: records naming it fail.

use jsonschema::{Draft, Registry, ValidationError, Validator, uri};
use serde_json::Value;

/// At most this many characters of a failing value's JSON pointer are kept
/// in a reason.
const MAX_POINTER: usize = 200;
/// At most this many characters of why the value fails.
const MAX_MESSAGE: usize = 300;

/// The drafts `$schema` may name.
const DRAFTS: &str = "draft-04, draft-06, draft-07, 2019-09 or 2020-12";

/// A compiled JSON Schema.
pub struct JsonSchema {
    validator: Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema").finish_non_exhaustive()
    }
}

/// The draft `doc` is written in: its `$schema`, else draft-07.
fn draft_of(doc: &Value, what: &str) -> Result<Draft, String> {
    match Draft::Draft7.detect(doc) {
        Draft::Unknown => Err(format!(
            "{what} names the meta-schema {}, which is not one kmv-host knows ({DRAFTS})",
            doc.get("$schema").unwrap_or(&Value::Null)
        )),
        draft => Ok(draft),
    }
}

fn parse(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

impl JsonSchema {
    /// Compiles the schema `text`, whose `$ref`s may name the `references`
    /// (the name a reference is registered by, its schema text). As in
    /// Confluent's serializers, a reference's name is taken relative to the
    /// schema's `$id`.
    pub fn compile(text: &str, references: &[(String, String)]) -> Result<JsonSchema, String> {
        let root = parse(text, "the schema")?;
        let draft = draft_of(&root, "the schema")?;
        let base = match root.get(draft.id_keyword()).and_then(Value::as_str) {
            Some(id) => Some(uri::from_str(id).map_err(|e| format!("its $id: {e}"))?),
            None => None,
        };
        let mut resources = Vec::with_capacity(references.len() * 2);
        for (name, text) in references {
            let what = format!("its reference {name}");
            let doc = parse(text, &what)?;
            let resource = draft_of(&doc, &what)?.create_resource(doc);
            if let Some(base) = &base {
                let at = uri::resolve_against(&base.borrow(), name)
                    .map_err(|e| format!("{what}: {e}"))?;
                resources.push((at.as_str().to_string(), resource.clone()));
            }
            resources.push((name.clone(), resource));
        }
        let registry = Registry::new()
            .extend(resources)
            .and_then(|r| r.prepare())
            .map_err(|e| format!("its references: {e}"))?;
        let validator = jsonschema::options()
            .with_draft(draft)
            .offline()
            .with_registry(&registry)
            .build(&root)
            .map_err(|e| {
                format!(
                    "the schema does not compile: {}",
                    bounded(&e.to_string(), MAX_MESSAGE)
                )
            })?;
        Ok(JsonSchema { validator })
    }

    /// Checks `payload` is JSON matching the schema; the reason names the
    /// JSON pointer of the first value that does not, and why (the value
    /// itself is left out: reasons are logged).
    pub fn check(&self, payload: &[u8]) -> Result<(), String> {
        // Parsed whole, not skipped: skipping lets invalid UTF-8 and lone
        // surrogate escapes in strings through (found by fuzzing).
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        self.validator.validate(&value).map_err(|e| reason(&e))
    }
}

/// Why a value does not match: where (a JSON pointer) and why, bounded.
fn reason(error: &ValidationError<'_>) -> String {
    let pointer = error.instance_path().as_str();
    let at = if pointer.is_empty() {
        "the root (\"\")".to_string()
    } else {
        bounded(pointer, MAX_POINTER)
    };
    format!(
        "the payload does not match the schema at {at}: {}",
        bounded(&error.masked().to_string(), MAX_MESSAGE)
    )
}

/// `text` cut to at most `max` characters, marked when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = r#"{
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string", "maxLength": 20},
            "kind": {"enum": ["news", "science"]},
            "title_vector": {"type": "array", "items": {"type": "number"}}
        },
        "required": ["id", "title"],
        "additionalProperties": false
    }"#;

    fn article() -> JsonSchema {
        JsonSchema::compile(ARTICLE, &[]).unwrap()
    }

    fn fails(schema: &JsonSchema, payload: &str) -> String {
        schema.check(payload.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_matching_payload_passes() {
        let s = article();
        s.check(br#"{"id": 1, "title": "a", "kind": "news", "title_vector": [0.5, 1]}"#)
            .unwrap();
    }

    #[test]
    fn each_mismatch_names_the_pointer_and_why() {
        let s = article();
        let e = fails(&s, r#"{"id": "1", "title": "a"}"#);
        assert!(e.contains("at /id:") && e.contains("\"integer\""), "{e}");
        let e = fails(&s, r#"{"id": 1}"#);
        assert!(e.contains("at the root") && e.contains("\"title\""), "{e}");
        assert!(e.contains("required"), "{e}");
        let e = fails(&s, r#"{"id": 1, "title": "a", "extra": true}"#);
        assert!(e.contains("extra") && e.contains("not allowed"), "{e}");
        let e = fails(&s, r#"{"id": 1, "title": "a", "kind": "sports"}"#);
        assert!(e.contains("at /kind:") && e.contains("news"), "{e}");
        let e = fails(&s, r#"{"id": 1, "title": "a", "title_vector": [0.5, "x"]}"#);
        assert!(e.contains("at /title_vector/1:"), "{e}");
        assert!(fails(&s, "[1").contains("not JSON"));
    }

    #[test]
    fn reasons_leave_the_value_out_and_are_bounded() {
        let s = article();
        let long = "k".repeat(5000);
        let e = fails(&s, &format!(r#"{{"id": 1, "title": "{long}"}}"#));
        assert!(e.contains("at /title:") && !e.contains("kkkkk"), "{e}");
        // A long property name, in the pointer and in the message.
        let schema = r#"{"properties": {"a": {"type": "object", "properties": {"b": {}},
            "additionalProperties": false}}, "additionalProperties": {"type": "integer"}}"#;
        let s = JsonSchema::compile(schema, &[]).unwrap();
        let e = fails(&s, &format!(r#"{{"a": {{"{long}": 1}}}}"#));
        assert!(e.contains("at /a:") && e.ends_with('…'), "{e}");
        assert!(e.chars().count() < MAX_MESSAGE + 100, "{e}");
        let e = fails(&s, &format!(r#"{{"{long}": "x"}}"#));
        assert!(e.contains("kkk…:") && e.contains("\"integer\""), "{e}");
        assert!(e.chars().count() < MAX_POINTER + 100, "{e}");
    }

    #[test]
    fn drafts_by_schema_with_draft_07_by_default() {
        // draft-07 has no dependentRequired (2019-09): without $schema it is ignored.
        let dependent = r#""dependentRequired": {"a": ["b"]}"#;
        let s = JsonSchema::compile(&format!("{{{dependent}}}"), &[]).unwrap();
        s.check(br#"{"a": 1}"#).unwrap();
        let named = format!(
            r#"{{"$schema": "https://json-schema.org/draft/2020-12/schema", {dependent}}}"#
        );
        let s = JsonSchema::compile(&named, &[]).unwrap();
        assert!(fails(&s, r#"{"a": 1}"#).contains("\"b\""));
        // draft-04's exclusiveMaximum is a boolean.
        let four = r#"{"$schema": "http://json-schema.org/draft-04/schema#",
            "maximum": 5, "exclusiveMaximum": true}"#;
        let s = JsonSchema::compile(four, &[]).unwrap();
        assert!(fails(&s, "5").contains("at the root"));
    }

    #[test]
    fn references_come_from_the_registry_only() {
        let customer = r#"{"type": "object", "required": ["name"]}"#.to_string();
        let order = r#"{"$id": "https://example.com/order.json",
            "properties": {"customer": {"$ref": "customer.json"}}}"#;
        let refs = [("customer.json".to_string(), customer)];
        let s = JsonSchema::compile(order, &refs).unwrap();
        s.check(br#"{"customer": {"name": "x"}}"#).unwrap();
        assert!(fails(&s, r#"{"customer": {}}"#).contains("at /customer:"));
        // Without an $id the name is used as it is.
        let order = r#"{"properties": {"customer": {"$ref": "customer.json"}}}"#;
        let s = JsonSchema::compile(order, &refs).unwrap();
        assert!(fails(&s, r#"{"customer": {}}"#).contains("at /customer:"));
        // A referenced schema is also found by its own $id.
        let customer = r#"{"$id": "https://example.com/people/customer.json",
            "type": "object", "required": ["name"]}"#;
        let refs = [("customer".to_string(), customer.to_string())];
        let order = r#"{"properties": {"customer":
            {"$ref": "https://example.com/people/customer.json"}}}"#;
        let s = JsonSchema::compile(order, &refs).unwrap();
        assert!(fails(&s, r#"{"customer": {}}"#).contains("at /customer:"));
        // A $ref to anything else is refused when the schema compiles, not fetched.
        let e = JsonSchema::compile(order, &[]).unwrap_err();
        assert!(e.contains("customer.json"), "{e}");
        let remote = r#"{"$ref": "https://example.com/elsewhere.json"}"#;
        assert!(JsonSchema::compile(remote, &[]).is_err());
    }

    #[test]
    fn unknown_meta_schemas_and_bad_schemas_are_refused() {
        let custom = r#"{"$schema": "https://example.com/my-meta", "type": "object"}"#;
        let e = JsonSchema::compile(custom, &[]).unwrap_err();
        assert!(
            e.contains("https://example.com/my-meta") && e.contains("draft-07"),
            "{e}"
        );
        let e = JsonSchema::compile(r#"{"type": "thing"}"#, &[]).unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
        assert!(
            JsonSchema::compile("{", &[])
                .unwrap_err()
                .contains("not JSON")
        );
    }
}
