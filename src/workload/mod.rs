//! Proptest strategies for workloads: payloads, chunkings, schedules.

pub mod server;
pub mod socket;
