//! Host bindings of the `kmv:transform` WIT contract (`guest-sdk/wit`).

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "transform",
    additional_derives: [PartialEq],
});

pub use kmv::transform::types::{ArrayValue, Field, Header, Level, Value};
