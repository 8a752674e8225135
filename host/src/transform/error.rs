//! Why a transform could not be loaded or started.

use super::bindings::WIT_PACKAGE;
use crate::embed::EmbedError;
use std::path::PathBuf;

/// Why a transform could not be loaded or started.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The module file could not be read.
    #[error("cannot read transform module {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is a core module or not WebAssembly at all.
    #[error(
        "{path} is not a WebAssembly component: {reason}; build transforms with `cargo build --release --target wasm32-wasip2`"
    )]
    NotComponent {
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The component was built against another version of the contract.
    #[error(
        "{path} was built for {found}, but this kmv-host runs kmv:transform@0.1.0, 0.2.0 and {WIT_PACKAGE}: rebuild the transform against kmv-guest {}",
        env!("CARGO_PKG_VERSION")
    )]
    WrongVersion {
        path: PathBuf,
        /// The package version it imports, `kmv:transform@0.0.9`.
        found: String,
    },
    /// Compilation or linking failed (the component does not fit the contract).
    #[error("cannot load transform {path}: {reason}")]
    Load {
        path: PathBuf,
        /// Why, with wasmtime's explanation.
        reason: String,
    },
    /// The transform's `init` returned an error: its message for the user.
    #[error("transform {module} refused its [transform.config]: {message}")]
    Init {
        /// The module's short identity, `name.wasm@hash12`.
        module: String,
        /// The guest's message.
        message: String,
    },
    /// `init` trapped, timed out or hit the memory limit.
    #[error("transform {module} failed during init: {reason}")]
    InitFault {
        /// The module's short identity, `name.wasm@hash12`.
        module: String,
        /// What happened.
        reason: String,
    },
    /// An embedder of `[embedders]` could not be built.
    #[error(transparent)]
    Embedders(#[from] EmbedError),
    /// The engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}
