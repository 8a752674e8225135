//! The collections one pipeline writes: `[sink] collection`, the default,
//! and those `[sink] collections` allows by name or `*` pattern. Each is
//! described once, at start for names and the default, when a row first
//! names it for patterns, and written through its own [`MilvusSink`].

use super::client::MilvusSink;
use super::error::SinkError;
use super::{ApiVersion, RestApi, SinkConfig};
use crate::common::text::error_chain;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The connected collections of a pipeline.
pub struct Sinks {
    config: SinkConfig,
    default: Arc<MilvusSink>,
    connected: RwLock<BTreeMap<String, Arc<MilvusSink>>>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("default", &self.config.collection)
            .field("allowed", &self.config.collections)
            .finish_non_exhaustive()
    }
}

/// Why a change cannot go to the collection it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Neither `[sink] collection` nor allowed by `[sink] collections`.
    #[error(
        "collection `{name}` is not one this pipeline writes (sink.collection = \"{default}\", sink.collections = {allowed:?})"
    )]
    NotAllowed {
        name: String,
        default: String,
        allowed: Vec<String>,
    },
    /// Allowed by a pattern, but it cannot be described (missing, ...).
    #[error("collection `{name}`: {reason}")]
    Unavailable { name: String, reason: String },
}

impl Sinks {
    /// Connects `[sink] collection` and every collection `[sink]
    /// collections` names exactly (patterns wait for a row that names one).
    pub async fn connect(config: &SinkConfig) -> Result<Sinks, SinkError> {
        let default = Arc::new(MilvusSink::connect(config).await?);
        let sinks = Sinks::with_default(config, default);
        for name in &config.collections {
            if !is_pattern(name) && name != &config.collection {
                sinks.connect_one(name).await?;
            }
        }
        Ok(sinks)
    }

    /// Only `default` connected (others connect on [`Sinks::connect_one`]).
    pub fn with_default(config: &SinkConfig, default: Arc<MilvusSink>) -> Sinks {
        let mut connected = BTreeMap::new();
        connected.insert(config.collection.clone(), default.clone());
        Sinks {
            config: config.clone(),
            default,
            connected: RwLock::new(connected),
        }
    }

    /// `[sink] collection`.
    pub fn default_sink(&self) -> &Arc<MilvusSink> {
        &self.default
    }

    /// Every collection connected so far, the default first.
    pub fn all(&self) -> Vec<Arc<MilvusSink>> {
        let connected = self.connected.read().unwrap_or_else(|e| e.into_inner());
        let mut all = vec![self.default.clone()];
        all.extend(
            connected
                .iter()
                .filter(|(name, _)| **name != self.config.collection)
                .map(|(_, s)| s.clone()),
        );
        all
    }

    /// The sink for `name` (`None`: the default). `Ok(None)`: allowed by a
    /// pattern but not connected yet (see [`Sinks::connect_one`]).
    pub fn get(&self, name: Option<&str>) -> Result<Option<Arc<MilvusSink>>, TargetError> {
        let Some(name) = name else {
            return Ok(Some(self.default.clone()));
        };
        let connected = self.connected.read().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = connected.get(name) {
            return Ok(Some(sink.clone()));
        }
        if self.allows(name) {
            return Ok(None);
        }
        Err(TargetError::NotAllowed {
            name: name.to_string(),
            default: self.config.collection.clone(),
            allowed: self.config.collections.clone(),
        })
    }

    /// Whether `[sink]` allows writing to `name`.
    pub fn allows(&self, name: &str) -> bool {
        name == self.config.collection
            || self
                .config
                .collections
                .iter()
                .any(|allowed| matches_pattern(allowed, name))
    }

    /// Describes `name` and keeps its sink, speaking the default's REST API.
    pub async fn connect_one(&self, name: &str) -> Result<Arc<MilvusSink>, SinkError> {
        if let Some(sink) = self
            .connected
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(sink.clone());
        }
        let mut config = self.config.clone();
        config.collection = name.to_string();
        config.api = match self.default.api() {
            RestApi::V1 => ApiVersion::V1,
            RestApi::V2 => ApiVersion::V2,
        };
        let sink = Arc::new(MilvusSink::connect(&config).await?);
        let mut connected = self.connected.write().unwrap_or_else(|e| e.into_inner());
        Ok(connected.entry(name.to_string()).or_insert(sink).clone())
    }

    /// [`Sinks::get`], connecting a collection a pattern allows on first use.
    pub async fn resolve(&self, name: Option<&str>) -> Result<Arc<MilvusSink>, TargetError> {
        if let Some(sink) = self.get(name)? {
            return Ok(sink);
        }
        let name = name.expect("the default is always connected");
        self.connect_one(name)
            .await
            .map_err(|e| TargetError::Unavailable {
                name: name.to_string(),
                reason: error_chain(&e),
            })
    }
}

/// Whether an entry of `[sink] collections` is a pattern.
pub(crate) fn is_pattern(entry: &str) -> bool {
    entry.contains('*')
}

/// `*` matches any run of characters (none included); all else is literal.
pub(crate) fn matches_pattern(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_globs_with_star_only() {
        assert!(matches_pattern("articles", "articles"));
        assert!(!matches_pattern("articles", "articles2"));
        assert!(matches_pattern("docs_*", "docs_"));
        assert!(matches_pattern("docs_*", "docs_2026"));
        assert!(!matches_pattern("docs_*", "doc_2026"));
        assert!(matches_pattern("*_v2", "a_v2"));
        assert!(!matches_pattern("*_v2", "a_v3"));
        assert!(matches_pattern("a*b*c", "a_x_b_y_c"));
        assert!(!matches_pattern("a*b*c", "a_x_c_y_b"));
        assert!(matches_pattern("*", "anything"));
        // The last part must not overlap the first.
        assert!(!matches_pattern("ab*ba", "aba"));
    }
}
