//! A stage's answer to "is my config table valid?": the key that is wrong,
//! where it is when the stage knows, and what would be valid. The stage never
//! sees the file; `config` turns this into an error that names the file, the
//! line and the column.

use std::fmt;
use std::ops::Range;

/// A key of a pipeline file whose value is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The table the key is in, dotted from the file's root: `sink`,
    /// `source.properties`, `embedders.local`.
    pub table: String,
    /// The key inside `table`, as the file writes it; it may hold dots
    /// (`enable.auto.commit`), which is why it is kept apart from `table`.
    pub key: String,
    /// Byte range of the value in the file, when the stage has it (a
    /// `toml::Spanned` value). Without it the line that sets `key` in
    /// `[table]` is looked up.
    pub span: Option<Range<usize>>,
    /// A key of `table` to point at when `key` is not in the file (a
    /// required key that is missing), e.g. the embedder's `provider`.
    pub fallback: Option<&'static str>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Invalid {
    /// `key` of `[table]` is not valid; its line is looked up in the file.
    pub fn key(table: &str, key: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            table: table.to_string(),
            key: key.to_string(),
            span: None,
            fallback: None,
            message: message.into(),
        }
    }

    /// The value of `key` of `[table]`, at `span` of the file, is not valid.
    pub fn at(span: Range<usize>, table: &str, key: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            span: Some(span),
            ..Invalid::key(table, key, message)
        }
    }

    /// Points at `other` (a key of the same table) when `key` is not in the file.
    pub fn or_at(self, other: &'static str) -> Invalid {
        Invalid {
            fallback: Some(other),
            ..self
        }
    }

    /// The key dotted from the file's root, as messages name it:
    /// `source.properties.enable.auto.commit`.
    pub fn dotted_key(&self) -> String {
        format!("{}.{}", self.table, self.key)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key `{}`: {}", self.dotted_key(), self.message)
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dotted_key_keeps_dots_inside_the_key() {
        let invalid = Invalid::key("source.properties", "group.id", "is set by kmv-host");
        assert_eq!(invalid.dotted_key(), "source.properties.group.id");
        assert_eq!(
            invalid.to_string(),
            "key `source.properties.group.id`: is set by kmv-host"
        );
    }
}
