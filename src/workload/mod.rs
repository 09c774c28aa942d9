//! Proptest strategies for workloads: payloads, chunkings, schedules.

pub mod pipe;
pub mod relay;
pub mod server;
pub mod socket;
