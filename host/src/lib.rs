//! kmv-host: stream Kafka records through a WebAssembly transform into Milvus
//! and Zilliz Cloud.
//!
//! Stages: [`source`] (Kafka consumer group), [`transform`] (the user's
//! component, sandboxed), [`sink`] (Milvus REST); [`errors`] is what happens
//! to records that fail (the dead-letter topic); [`embed`] turns text
//! into vectors for transforms that ask. The binary (`main.rs`) only
//! parses the command line and calls [`cli`].

pub mod cli;
pub mod common;
pub mod config;
pub mod embed;
pub mod errors;
#[doc(hidden)]
pub mod fuzzing;
pub mod observability;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod transform;
