use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kmv_host::cli::Cli::parse();
    kmv_host::cli::init_tracing(&cli);
    match kmv_host::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
