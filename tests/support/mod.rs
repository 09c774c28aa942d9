//! Shared by every test that runs a C fixture or a reference program: the
//! fixtures compiled once per test process, and where the references live;
//! [`cli`] runs `ipcspec check`, [`server`] runs a server suite in-process,
//! [`reports`] holds hand-made reports.

// Each test file uses part of this module.
#![allow(dead_code)]

pub mod cli;
pub mod reports;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ipcspec::spec::References;

/// The built-in references: the `ipcspec` binary under test.
pub fn refs() -> References {
    References {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_ipcspec")),
    }
}

/// `fixtures/KIND/NAME.c` compiled with `cc` into a temp dir that lives as
/// long as the test process; built on first use.
pub fn built(kind: &str, name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(kind)
        .join(format!("{name}.c"));
    let binary = dir.path().join(format!("{kind}-{name}"));
    if !binary.exists() {
        // Build under a unique name and rename, so parallel tests never run a half-written file.
        let partial = dir
            .path()
            .join(format!("{kind}-{name}.{:?}", std::thread::current().id()));
        let status = Command::new("cc")
            .args(["-O1", "-pthread", "-w", "-o"])
            .arg(&partial)
            .arg(&source)
            .status()
            .expect("cc runs (bash ci/setup.sh installs it)");
        assert!(status.success(), "cc failed on {}", source.display());
        std::fs::rename(&partial, &binary).expect("rename the built fixture");
    }
    binary
}
