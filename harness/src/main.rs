//! The `ddbench` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() {
    ddbench::alloc::tune_for_tensors();
    ddbench::output::init_logging();
    let cli = ddbench::cli::Cli::parse();
    match ddbench::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            tracing::error!("Error: {e:#}");
            std::process::exit(1);
        }
    }
}
