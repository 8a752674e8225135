//! [`Rule`]: a record predicate read from configuration, for filters.

use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// A comparison of one JSON field against a value, e.g. from config
/// `{ field = "lang", op = "eq", value = "en" }`.
///
/// `field` may name a nested field with dots (`"meta.lang"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The field to look at.
    pub field: String,
    /// How to compare.
    pub op: Op,
    /// What to compare with (not needed for `exists` / `missing`).
    #[serde(default)]
    pub value: Json,
}

/// A comparison operator of a [`Rule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to the value.
    Eq,
    /// Not equal to the value (true when the field is missing).
    Ne,
    /// A number greater than the value.
    Gt,
    /// A number greater than or equal to the value.
    Ge,
    /// A number less than the value.
    Lt,
    /// A number less than or equal to the value.
    Le,
    /// The field is present and not null.
    Exists,
    /// The field is absent or null.
    Missing,
    /// A string containing the value, or an array containing it as an element.
    Contains,
    /// Equal to one of the values of an array.
    In,
}

impl Rule {
    /// Whether `object` satisfies the rule.
    pub fn matches(&self, object: &Map<String, Json>) -> bool {
        let found = lookup(object, &self.field).filter(|v| !v.is_null());
        match (self.op, found) {
            (Op::Exists, found) => found.is_some(),
            (Op::Missing, found) => found.is_none(),
            (Op::Ne, None) => true,
            (_, None) => false,
            (Op::Eq, Some(v)) => json_eq(v, &self.value),
            (Op::Ne, Some(v)) => !json_eq(v, &self.value),
            (Op::Gt | Op::Ge | Op::Lt | Op::Le, Some(v)) => {
                match (v.as_f64(), self.value.as_f64()) {
                    (Some(a), Some(b)) => match self.op {
                        Op::Gt => a > b,
                        Op::Ge => a >= b,
                        Op::Lt => a < b,
                        _ => a <= b,
                    },
                    _ => false,
                }
            }
            (Op::Contains, Some(Json::String(s))) => {
                self.value.as_str().is_some_and(|needle| s.contains(needle))
            }
            (Op::Contains, Some(Json::Array(items))) => {
                items.iter().any(|i| json_eq(i, &self.value))
            }
            (Op::Contains, Some(_)) => false,
            (Op::In, Some(v)) => self
                .value
                .as_array()
                .is_some_and(|options| options.iter().any(|o| json_eq(v, o))),
        }
    }
}

fn lookup<'a>(object: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Equality where `1` equals `1.0`.
fn json_eq(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Json) -> Rule {
        serde_json::from_value(v).unwrap()
    }

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn operators() {
        let doc = obj(
            json!({"lang": "en", "n": 3, "tags": ["a", "b"], "meta": {"src": "web"}, "z": null}),
        );
        assert!(rule(json!({"field": "lang", "op": "eq", "value": "en"})).matches(&doc));
        assert!(!rule(json!({"field": "lang", "op": "ne", "value": "en"})).matches(&doc));
        assert!(rule(json!({"field": "nope", "op": "ne", "value": "en"})).matches(&doc));
        assert!(rule(json!({"field": "n", "op": "eq", "value": 3.0})).matches(&doc));
        assert!(rule(json!({"field": "n", "op": "gt", "value": 2})).matches(&doc));
        assert!(!rule(json!({"field": "n", "op": "lt", "value": 3})).matches(&doc));
        assert!(rule(json!({"field": "n", "op": "le", "value": 3})).matches(&doc));
        assert!(rule(json!({"field": "tags", "op": "contains", "value": "b"})).matches(&doc));
        assert!(rule(json!({"field": "lang", "op": "contains", "value": "e"})).matches(&doc));
        assert!(rule(json!({"field": "lang", "op": "in", "value": ["fr", "en"]})).matches(&doc));
        assert!(rule(json!({"field": "meta.src", "op": "eq", "value": "web"})).matches(&doc));
        assert!(rule(json!({"field": "z", "op": "missing"})).matches(&doc));
        assert!(rule(json!({"field": "lang", "op": "exists"})).matches(&doc));
    }

    #[test]
    fn unknown_op_is_an_error() {
        let e = serde_json::from_value::<Rule>(json!({"field": "a", "op": "like"})).unwrap_err();
        assert!(e.to_string().contains("unknown variant `like`"), "{e}");
    }
}
