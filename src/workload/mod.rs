//! Proptest strategies for workloads: payloads, chunkings, schedules.

pub mod pipe;
pub mod relay;
pub mod socket;
