//! Proptest strategies for workloads: payloads, chunkings, schedules.

pub mod relay;
