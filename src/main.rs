//! The `ipcspec` command line; see `ipcspec --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
