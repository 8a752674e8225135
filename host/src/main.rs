use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kmv_host::cli::Cli::parse();
    kmv_host::cli::init_tracing(&cli);
    match kmv_host::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: a message that embeds its source is not repeated.
            eprintln!("error: {}", kmv_host::common::text::error_chain(e.as_ref()));
            std::process::ExitCode::from(2)
        }
    }
}
