//! The HTTP server for operators: `/metrics` (Prometheus exposition, from
//! the recorder of `metrics-exporter-prometheus`), `/healthz` and `/readyz`.

use super::{Counters, HANDLE, health, lock, names};
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::time::Duration;

/// Installs the Prometheus recorder (once per process) and describes the metrics.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let latency = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::BATCH_WRITE_SECONDS.into()), &latency)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(names::TRANSFORM_SECONDS.into()), &latency)
        })
        .context("configuring the Prometheus recorder")?
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    describe();
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(names::RECORDS_CONSUMED, "Records consumed from Kafka.");
    describe_counter!(names::ROWS_WRITTEN, "Rows Milvus acknowledged.");
    describe_counter!(
        names::KEYS_DELETED,
        "Primary keys whose delete Milvus acknowledged."
    );
    describe_counter!(
        names::CHANGES_SUPERSEDED,
        "Rows and deletes not sent: a later change to the same primary key in the same chunk replaced them."
    );
    describe_counter!(
        names::COLLECTION_ROWS_WRITTEN,
        "Rows Milvus acknowledged, by collection."
    );
    describe_counter!(
        names::COLLECTION_KEYS_DELETED,
        "Primary keys whose delete Milvus acknowledged, by collection."
    );
    describe_counter!(
        names::RECORDS_SKIPPED,
        "Records the transform skipped on purpose."
    );
    describe_counter!(
        names::RECORDS_FAILED,
        "Records that failed, by class (decode_error, transform_error, transform_fault, schema_mismatch, unknown_collection, milvus_rejected)."
    );
    describe_counter!(
        names::RECORDS_DEAD_LETTERED,
        "Failed records the dead-letter topic acknowledged."
    );
    describe_counter!(names::WRITE_RETRIES, "Write attempts retried.");
    describe_counter!(
        names::BATCHES_WRITTEN,
        "Write requests Milvus acknowledged."
    );
    describe_counter!(
        names::TRANSFORM_SWAPS,
        "New transform versions switched in while running."
    );
    describe_counter!(
        names::TRANSFORM_SWAP_FAILURES,
        "New transform versions refused (compile, init, sample check); the old one kept running."
    );
    describe_histogram!(
        names::BATCH_WRITE_SECONDS,
        Unit::Seconds,
        "Duration of one write request to Milvus (each attempt)."
    );
    describe_histogram!(
        names::TRANSFORM_SECONDS,
        Unit::Seconds,
        "Duration of one transform call over a polled chunk of records."
    );
    describe_gauge!(
        names::IN_FLIGHT_BYTES,
        Unit::Bytes,
        "Bytes handed to the writer and not yet written and committed (records and their encoded rows; capped by [sink] max_in_flight_bytes)."
    );
    describe_gauge!(
        names::CONSUMER_LAG,
        "Consumer lag in records per assigned partition (librdkafka statistics)."
    );
    describe_gauge!(
        names::TRANSFORM_INFO,
        "The transform module (name.wasm@hash): 1 while it runs, 0 once replaced."
    );
}

/// Sets the counters from the run's [`Counters`] (called at each scrape).
fn export_counters(c: &Counters) {
    let s = c.summary();
    for (name, value) in [
        (names::RECORDS_CONSUMED, s.records_in),
        (names::ROWS_WRITTEN, s.rows_written),
        (names::KEYS_DELETED, s.deletes),
        (names::CHANGES_SUPERSEDED, s.superseded),
        (names::RECORDS_SKIPPED, s.skipped),
        (names::RECORDS_DEAD_LETTERED, s.dead_lettered),
        (names::WRITE_RETRIES, s.retries),
        (names::BATCHES_WRITTEN, s.batches),
        (names::TRANSFORM_SWAPS, s.swaps),
        (names::TRANSFORM_SWAP_FAILURES, s.swap_failures),
    ] {
        metrics::counter!(name).absolute(value);
    }
    for (collection, counts) in c.by_collection() {
        metrics::counter!(names::COLLECTION_ROWS_WRITTEN, "collection" => collection.clone())
            .absolute(counts.rows);
        metrics::counter!(names::COLLECTION_KEYS_DELETED, "collection" => collection)
            .absolute(counts.deletes);
    }
    metrics::gauge!(names::IN_FLIGHT_BYTES)
        .set(c.in_flight_bytes.load(std::sync::atomic::Ordering::Relaxed) as f64);
}

/// Binds `address` and serves `/metrics`, `/healthz` and `/readyz` on the
/// current tokio runtime until the process ends.
pub async fn serve(address: SocketAddr) -> anyhow::Result<SocketAddr> {
    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let handle = install()?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--http-address {address}: binding the metrics/health server"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    // Drains histogram samples into their buckets between scrapes (the
    // recorder does not do it by itself), so memory stays bounded.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    if let Some(c) = &*lock(&health().counters) {
                        export_counters(c);
                    }
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|| async {
                let (ready, body) = health().readiness();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    format!("{body}\n"),
                )
                    .into_response()
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "The metrics/health server stopped.");
        }
    });
    tracing::info!(address = %bound, "Serving /metrics, /healthz and /readyz.");
    Ok(bound)
}
