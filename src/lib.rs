//! ipcspec: a property-tested conformance suite for pipes, sockets and echo
//! servers, as an operating-systems course teaches them.
//!
//! - [`spec`]: the properties, one module per area, and the engine that runs them;
//! - [`reference`](mod@reference): reference implementations (pipe, servers, client, relay, shell);
//! - [`target`]: launching and observing a program under test;
//! - [`workload`]: proptest strategies for payloads, chunkings and schedules;
//! - [`report`]: rendering results for people and machines;
//! - [`grade`]: grading many submissions from a manifest;
//! - [`sys`]: the only `unsafe` code.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod grade;
pub mod reference;
pub mod report;
pub mod spec;
#[allow(unsafe_code)]
pub mod sys;
pub mod target;
pub mod workload;
