//! Every [`PROBE_INTERVAL`]: has the consumer partitions assigned, does
//! Milvus answer? The answers go to the process-wide health (`/readyz`).

use crate::observability::{PROBE_INTERVAL, health};
use crate::sink::MilvusSink;
use crate::source::Source;
use std::sync::Arc;

/// Probes the consumer and Milvus until aborted.
pub async fn probe(source: Arc<Source>, sink: Arc<MilvusSink>) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    loop {
        tick.tick().await;
        let h = health();
        h.set_assigned(source.has_assignment());
        h.milvus(sink.probe().await.map_err(|e| e.to_string()));
    }
}
