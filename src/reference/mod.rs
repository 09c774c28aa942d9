//! Reference implementations: what the spec is checked against besides the
//! kernel, and what `ipcspec serve|client|relay|shell` run.

pub mod pipe;
pub mod relay;
pub mod shell;
pub mod stage;
