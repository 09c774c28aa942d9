//! Reference implementations: what the spec is checked against besides the
//! kernel, and what `ipcspec serve|client|relay|shell` run.

pub mod client;
pub mod http;
pub mod pipe;
pub mod relay;
pub mod server;
pub mod shell;
pub mod socket;
pub mod stage;
