//! The messages and tonic stubs generated from `proto/log.proto` by `build.rs`.
//!
//! They stay private to this crate: the rest of the workspace sees only `DrainTrigger` and the
//! `DrainSignal` port, never a prost or tonic type.

tonic::include_proto!("logpipeline.worker.v1");
