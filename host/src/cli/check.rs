//! `kmv-host check`: the pipeline file is valid and its transform loads and
//! initialises; with `--module`, a new version would be accepted by a
//! running pipeline (the hot swap's checks, against the collection schema).

use super::CheckArgs;
use crate::config::PipelineConfig;
use crate::pipeline::swap::{check_sample, load_version};
use crate::transform::ValueForm;
use anyhow::Context;
use std::process::ExitCode;

pub(super) fn check(pipeline: &std::path::Path) -> anyhow::Result<ExitCode> {
    let loaded = PipelineConfig::load(pipeline)?;
    let engine = loaded.load_transform()?;
    println!("{}: config is valid", pipeline.display());
    println!(
        "transform {} implements {} and initialised with its [transform.config]",
        engine.identity().short(),
        engine.contract()
    );
    Ok(ExitCode::SUCCESS)
}

/// `check --module`: a new version against a pipeline's config.
pub(super) fn check_module(args: &CheckArgs, module: &std::path::Path) -> anyhow::Result<ExitCode> {
    let loaded = PipelineConfig::load(&args.pipeline)?;
    let (engine, mut worker) = match load_version(module, &loaded.config.transform) {
        Ok(loaded) => loaded,
        Err(refusal) => return Ok(refuse(module, &refusal.to_string())),
    };
    let short = engine.identity().short();
    println!(
        "transform {short} implements {} and initialised with the [transform.config] of {}",
        engine.contract(),
        args.pipeline.display()
    );
    let Some(input) = &args.input else {
        println!("no --input: not run over records");
        return Ok(ExitCode::SUCCESS);
    };
    let records =
        super::try_records::read_records(input, args.input_format, loaded.sample_topic())?;
    let Some(sink_config) = &loaded.config.sink else {
        anyhow::bail!(
            "{}: no [sink] table: cannot check rows against a collection schema",
            args.pipeline.display()
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let sink = match runtime.block_on(crate::sink::MilvusSink::connect(sink_config)) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!(
                "error: cannot describe the [sink] collection `{}` at {}: {e}",
                sink_config.collection, sink_config.endpoint
            );
            eprintln!(
                "{short}: rows were NOT checked against the collection schema; run the check where Milvus is reachable"
            );
            return Ok(ExitCode::from(1));
        }
    };
    match check_sample(&mut worker, &sink.encoder(), &records, ValueForm::Bytes) {
        Ok(()) => {
            println!(
                "{short}: ran over {} records from {} without a fault; every row fits collection `{}`",
                records.len(),
                input.display(),
                sink_config.collection
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => Ok(refuse(module, &refusal.to_string())),
    }
}

fn refuse(module: &std::path::Path, reason: &str) -> ExitCode {
    eprintln!("error: {} would be refused: {reason}", module.display());
    ExitCode::from(1)
}
