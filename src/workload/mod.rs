//! Proptest strategies for workloads: payloads, chunkings, schedules.
