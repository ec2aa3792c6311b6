//! The errors of this crate's constructors and server.

/// What can go wrong in the gRPC adapter.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The worker URL cannot be used; the service should refuse to start.
    #[error("invalid worker gRPC url {url:?}: {reason}")]
    InvalidUrl {
        url: String,
        reason: &'static str,
        #[source]
        source: Option<tonic::transport::Error>,
    },
    /// The drain signal client was built outside a tokio runtime, where it cannot run its task.
    #[error("the gRPC drain signal must be created inside a tokio runtime")]
    NoRuntime,
    /// The drain signal's background task has ended (shutdown, or a bug that made it panic).
    #[error("the gRPC drain signal task has stopped")]
    SignalTaskStopped,
    /// The gRPC server stopped with an error.
    #[error("gRPC server failed")]
    Serve(#[source] tonic::transport::Error),
}
