//! `ipcspec shell` (the reference mini-shell), `ipcspec stage ...` (the
//! shell probe) and `ipcspec check shell`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use ipcspec::reference::{shell, stage};

/// The probe stages a `check shell` line is made of.
#[derive(Debug, Subcommand)]
pub enum StageCommand {
    /// Write a payload (or repeat it forever) to stdout.
    Emit {
        /// The payload's seed.
        #[arg(long)]
        seed: u64,
        /// The payload's length in bytes.
        #[arg(long)]
        len: usize,
        /// Repeat the payload until stdout's reader is gone.
        #[arg(long)]
        endless: bool,
        /// Where to write this stage's report (at start, and how it ended).
        #[arg(long)]
        report: Option<PathBuf>,
        /// A FIFO to open and read to EOF before writing anything.
        #[arg(long)]
        gate: Option<PathBuf>,
    },
    /// Copy stdin to stdout until EOF, as `cat` does.
    Copy {
        /// Where to write this stage's report (at start).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Read stdin to EOF and report whether it was the payload.
    Verify {
        /// The payload's seed.
        #[arg(long)]
        seed: u64,
        /// The payload's length in bytes.
        #[arg(long)]
        len: usize,
        /// Where to write this stage's report (at start, and at EOF with the verdict).
        #[arg(long)]
        report: PathBuf,
    },
    /// Wait until every stage of the line has announced itself in DIR.
    Meet {
        /// This stage's number, from 0.
        #[arg(long)]
        id: usize,
        /// How many stages meet.
        #[arg(long)]
        of: usize,
        /// The meeting directory; reports go to DIR/ID.json.
        #[arg(long)]
        dir: PathBuf,
        /// How long to wait for the others, in seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Read at most this many bytes of stdin, then exit.
    Head {
        /// How many bytes to read.
        #[arg(long)]
        bytes: u64,
        /// Where to write this stage's report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// Runs the reference shell on stdin.
pub fn shell() -> anyhow::Result<i32> {
    Ok(shell::run()?)
}

/// Runs one probe stage.
pub fn stage(command: &StageCommand) -> anyhow::Result<i32> {
    Ok(match command {
        StageCommand::Emit {
            seed,
            len,
            endless,
            report,
            gate,
        } => stage::emit(*seed, *len, *endless, report.as_deref(), gate.as_deref())?,
        StageCommand::Copy { report } => stage::copy(report.as_deref())?,
        StageCommand::Verify { seed, len, report } => stage::verify(*seed, *len, report)?,
        StageCommand::Meet {
            id,
            of,
            dir,
            timeout,
        } => stage::meet(*id, *of, dir, Duration::from_secs_f64(timeout.max(0.0)))?,
        StageCommand::Head { bytes, report } => stage::head(*bytes, report.as_deref())?,
    })
}
