//! Vocabulary every stage shares, below all of them: it imports nothing of
//! the crate, so the stages import it without making a circle.
//!
//! - `env`: `${NAME}` expansion (one set of rules) and [`env::Secret`].
//! - `retry`: the retry policy and the one retry loop (sink and embedders).
//! - `text`: error chains, cutting text on a char boundary, scrubbing secrets.
//! - `identity`: a module's identity, `name.wasm@hash12`.
//! - `invalid`: a stage's answer to "is my config table valid?".
//! - `class`: why a record failed (the `kmv.error.class` header).
//! - `msgpack`: a decoded value's MessagePack as JSON text.

pub mod class;
pub mod env;
pub mod identity;
pub mod invalid;
pub mod msgpack;
pub mod retry;
pub mod text;
