//! `filter`: keeps or drops records by a rule on a JSON field; kept records
//! are written as they are (like `passthrough`).
//!
//! ```toml
//! [transform.config]
//! keep_if = { field = "lang", op = "eq", value = "en" }   # or drop_if = { ... }
//! ```
//! Operators: eq, ne, gt, ge, lt, le, exists, missing, contains, in.
use kmv_guest::{Config, Outcome, Record, Rule, Transform, export_transform};

/// The `[transform.config]` of the filter transform: exactly one of the two.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterConfig {
    keep_if: Option<Rule>,
    drop_if: Option<Rule>,
}

/// Keeps the records that match `keep_if`, or drops those that match `drop_if`.
pub struct Filter {
    rule: Rule,
    keep: bool,
}

impl Transform for Filter {
    fn init(config: Config) -> Result<Self, String> {
        let c: FilterConfig = config.deserialize()?;
        match (c.keep_if, c.drop_if) {
            (Some(rule), None) => Ok(Filter { rule, keep: true }),
            (None, Some(rule)) => Ok(Filter { rule, keep: false }),
            _ => Err("[transform.config] needs exactly one of `keep_if` or `drop_if`, e.g. keep_if = { field = \"lang\", op = \"eq\", value = \"en\" }".into()),
        }
    }

    fn process(&mut self, record: Record) -> Outcome {
        let object = match record.json_object() {
            Ok(o) => o,
            Err(reason) => return Outcome::Error(reason),
        };
        if self.rule.matches(&object) != self.keep {
            return Outcome::Skip;
        }
        Outcome::row(kmv_guest::Row::from_json_object(object))
    }
}

export_transform!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_and_drops() {
        let c =
            Config::from_value(json!({"keep_if": {"field": "lang", "op": "eq", "value": "en"}}))
                .unwrap();
        let mut t = Filter::init(c).unwrap();
        assert!(matches!(
            t.process(Record::from_value(br#"{"lang": "en"}"#)),
            Outcome::Rows(_)
        ));
        assert_eq!(
            t.process(Record::from_value(br#"{"lang": "fr"}"#)),
            Outcome::Skip
        );
        let c =
            Config::from_value(json!({"drop_if": {"field": "n", "op": "gt", "value": 2}})).unwrap();
        let mut t = Filter::init(c).unwrap();
        assert_eq!(t.process(Record::from_value(br#"{"n": 3}"#)), Outcome::Skip);
    }

    #[test]
    fn needs_one_rule() {
        assert!(
            Filter::init(Config::default())
                .err()
                .unwrap()
                .contains("exactly one")
        );
    }
}
