//! The gRPC adapter between ingestion and the worker.
//!
//! The worker runs [`serve_worker`]: a `logpipeline.worker.v1.Worker` service (see
//! `proto/log.proto`) whose Drain call wakes its `DrainTrigger`, next to the standard
//! `grpc.health.v1.Health` service. The ingestion service holds a [`GrpcDrainSignal`], its
//! `DrainSignal`, which calls Drain after events are queued. The signal is only a hint: the Redis
//! queue is the source of truth and the worker also polls it, so a lost signal delays storage and
//! never loses data. With a [`SharedToken`] (`WORKER_GRPC_TOKEN`), the Worker service answers
//! only calls that carry it. Generated protobuf types stay inside this crate.

mod config;
mod error;
mod proto;
mod server;
mod signal;
#[cfg(test)]
mod tests;
mod token;

pub use config::GrpcClientConfig;
pub use error::GrpcError;
pub use server::{WORKER_SERVICE_NAME, WorkerHealth, serve_worker};
pub use signal::GrpcDrainSignal;
pub use token::{InvalidToken, MIN_TOKEN_CHARS, SharedToken};
