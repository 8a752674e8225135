//! `${NAME}` expansion from the environment, with one set of rules for every
//! key that may name a variable (`sink.token`, `[source.properties]`,
//! `[errors.dead_letter_properties]`, an embedder's `api_key` and
//! `model_dir`), and [`Secret`], a value that never reaches a log line.
//!
//! The rules: `${NAME}` is replaced by the variable NAME, which must be set
//! and not empty; NAME is letters, digits and `_`, not starting with a digit;
//! a `${` without its `}` is an error. Errors name the variable, never its
//! value.

use serde::Deserialize;
use std::fmt;

/// A secret from the configuration (a token, an API key). Its `Debug` never
/// shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why `${NAME}` could not be expanded. The message is said of the key that
/// holds the text: see [`EnvError::at`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The variable is not set, or set to the empty string.
    #[error("names the environment variable `{name}`, which is {state}")]
    Variable {
        /// The variable (never its value).
        name: String,
        /// `not set` or `empty`.
        state: &'static str,
    },
    /// A `${` without its closing `}`.
    #[error(
        "`${{` without a closing `}}` (write `${{NAME}}` to read the environment variable NAME)"
    )]
    Unclosed,
    /// What stands between `${` and `}` is not a variable name.
    #[error("`${{...}}` must hold an environment variable name (letters, digits, `_`)")]
    BadName,
}

impl EnvError {
    /// The error said of `key`: "sink.token names the environment variable
    /// `X`, which is not set", "sink.token: `${` without a closing `}` ...".
    pub fn at(&self, key: &str) -> String {
        match self {
            EnvError::Variable { .. } => format!("{key} {self}"),
            _ => format!("{key}: {self}"),
        }
    }

    /// The error said of property `key` of `table` (a librdkafka property):
    /// "[source.properties] `k` refers to environment variable X, which is not set".
    pub fn at_property(&self, table: &str, key: &str) -> String {
        match self {
            EnvError::Variable { name, state } => {
                format!("[{table}] `{key}` refers to environment variable {name}, which is {state}")
            }
            _ => format!("[{table}] `{key}`: {self}"),
        }
    }
}

/// Expands every `${NAME}` in `text` from the process environment.
pub fn expand_env(text: &str) -> Result<String, EnvError> {
    expand(text, |name| std::env::var(name).ok())
}

/// Expands every `${NAME}` in `text` with `lookup` (the environment, or a
/// table in tests).
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(EnvError::Unclosed)?;
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(EnvError::BadName);
        }
        let state = match lookup(name) {
            None => "not set",
            Some(v) if v.is_empty() => "empty",
            Some(v) => {
                out.push_str(&v);
                rest = &after[end + 1..];
                continue;
            }
        };
        return Err(EnvError::Variable {
            name: name.into(),
            state,
        });
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("1".into()),
            "_B2" => Some("two".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_every_variable() {
        assert_eq!(expand("x${A}y${_B2}z", env).unwrap(), "x1ytwoz");
        assert_eq!(expand("plain", env).unwrap(), "plain");
        assert_eq!(expand("", env).unwrap(), "");
        assert_eq!(expand("$A {A}", env).unwrap(), "$A {A}");
    }

    #[test]
    fn one_set_of_rules() {
        let unset = expand("${NOPE}", env).unwrap_err();
        assert_eq!(
            unset.at("sink.token"),
            "sink.token names the environment variable `NOPE`, which is not set"
        );
        assert_eq!(
            expand("${EMPTY}", env).unwrap_err().at("api_key"),
            "api_key names the environment variable `EMPTY`, which is empty"
        );
        assert_eq!(expand("a${A", env).unwrap_err(), EnvError::Unclosed);
        assert!(
            EnvError::Unclosed
                .at("sink.token")
                .starts_with("sink.token: `${` without a closing `}`")
        );
        for bad in ["${}", "${1x}", "${a-b}", "${A B}"] {
            assert_eq!(expand(bad, env).unwrap_err(), EnvError::BadName, "{bad}");
        }
        assert_eq!(
            unset.at_property("source.properties", "sasl.password"),
            "[source.properties] `sasl.password` refers to environment variable NOPE, which is not set"
        );
    }

    /// Moved from `source/consumer.rs`, whose expander this one replaces.
    #[test]
    fn env_expansion() {
        // PATH is set in any test environment.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand_env("a${PATH}b").unwrap(), format!("a{path}b"));
        assert_eq!(expand_env("plain").unwrap(), "plain");
        let e = expand_env("${KMV_SURELY_UNSET_VAR}").unwrap_err();
        assert_eq!(
            e.at_property("source.properties", "sasl.password"),
            "[source.properties] `sasl.password` refers to environment variable KMV_SURELY_UNSET_VAR, which is not set"
        );
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
