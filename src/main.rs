//! The `ipcspec` command line; see `ipcspec --help`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
