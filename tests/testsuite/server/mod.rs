//! Servers: `check server` exit codes, and the fixtures that must conform.

mod cli;
mod fixtures;
mod hostile;
