//! `LogsService/Export`: decode (done by tonic), map and ingest through the shared OTLP export,
//! and answer: the `ExportLogsServiceResponse` (with `partial_success` when validation rejected
//! records), or the gRPC status of the failure. The one table from failures to gRPC statuses is
//! here; the HTTP adapter's [`Failure`] says what kind of failure it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use application::IngestUseCase;
use domain::TraceId;
use http_adapter::Denial;
use http_adapter::{ErrorCode, Failure, RETRY_AFTER_SECONDS};
use http_adapter::{IngestSource, count_accepted, count_rejected, count_rejected_request};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{self, LogsService};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use otlp_adapter::{ExportError, export_logs};
use prost::Message as _;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, RetryInfo, StatusExt, pb};

/// The fully qualified name of the logs service, as health checks ask for it.
pub const LOGS_SERVICE_NAME: &str = logs_service_server::SERVICE_NAME;

/// The path of the Export method.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// The metrics source of everything this crate counts.
pub(crate) const SOURCE: IngestSource = IngestSource::OtlpGrpc;

/// Metadata that carries the request's trace id back, as `X-Trace-Id` does over HTTP.
const TRACE_METADATA: &str = "x-trace-id";

/// Set by the handler when a call reaches it; the guard reads it to tell tonic's own refusals
/// (before the handler: size, decoding) from the handler's answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandlerReached(Arc<AtomicBool>);

impl HandlerReached {
    fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The Export handler.
#[derive(Debug, Clone)]
pub(crate) struct LogsReceiver {
    pub(crate) ingest: IngestUseCase,
    pub(crate) max_records: usize,
}

#[tonic::async_trait]
impl LogsService for LogsReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        if let Some(reached) = request.extensions().get::<HandlerReached>() {
            reached.mark();
        }
        let trace = request_trace(request.metadata()).unwrap_or_else(TraceId::generate);
        let exported = export_logs(
            &self.ingest,
            self.max_records,
            request.into_inner(),
            Some(trace),
        )
        .await
        .map_err(|error| match error {
            ExportError::TooManyRecords { .. } => {
                count_rejected_request(SOURCE, ErrorCode::TooManyEvents);
                // No RetryInfo: the same request would be refused again (OTLP: not retryable).
                Status::resource_exhausted(error.to_string())
            }
            ExportError::Ingest { error, records } => {
                let failure = Failure::from(error);
                count_rejected(SOURCE, http_adapter::failure_code(&failure), records);
                failure_status(failure)
            }
        })?;
        count_accepted(SOURCE, exported.accepted);
        count_rejected(SOURCE, ErrorCode::InvalidField, exported.rejected);
        let mut response = Response::new(exported.response);
        if let Ok(value) = MetadataValue::try_from(trace.to_string()) {
            response.metadata_mut().insert(TRACE_METADATA, value);
        }
        Ok(response)
    }
}

/// The trace id a call carries, if any is valid: `traceparent` first, then `x-trace-id`.
fn request_trace(metadata: &MetadataMap) -> Option<TraceId> {
    let text = |name: &str| metadata.get(name).and_then(|value| value.to_str().ok());
    text("traceparent")
        .and_then(|value| {
            TraceId::from_traceparent(value)
                .ok()
                .map(|(trace, _)| trace)
        })
        .or_else(|| text(TRACE_METADATA).and_then(|value| TraceId::parse(value).ok()))
}

/// The gRPC status of a failure of the use case, by the HTTP adapter's error table (the same code
/// `POST /v1/logs` answers with). A full queue and an unreachable one carry
/// `google.rpc.RetryInfo`, as OTLP/gRPC's throttling prescribes: RESOURCE_EXHAUSTED with it is
/// retryable, UNAVAILABLE always is; clients wait the delay, then back off.
pub(crate) fn failure_status(failure: Failure) -> Status {
    let body = failure.body();
    let code = Code::from(body.code.grpc_code().as_i32());
    if body.code.retry_after() {
        retry_later(code, body.reason.clone())
    } else {
        Status::new(code, body.reason.clone())
    }
}

/// A status with `RetryInfo` of [`retry_delay`], in the status details (`grpc-status-details-bin`,
/// where the Collector and most gRPC libraries read it) and as the `google.rpc.retryinfo-bin`
/// metadata (where the OpenTelemetry Python exporter reads it).
fn retry_later(code: Code, message: String) -> Status {
    let encoded = pb::RetryInfo::from(RetryInfo::new(Some(retry_delay()))).encode_to_vec();
    let details = ErrorDetails::with_retry_info(Some(retry_delay()));
    let mut status = Status::with_error_details(code, message, details);
    status
        .metadata_mut()
        .insert_bin(RETRY_INFO_METADATA, MetadataValue::from_bytes(&encoded));
    status
}

/// The binary metadata key of a bare `google.rpc.RetryInfo`.
const RETRY_INFO_METADATA: &str = "google.rpc.retryinfo-bin";

/// How long a throttled client is asked to wait: the HTTP answers' `Retry-After`.
pub(crate) fn retry_delay() -> Duration {
    Duration::from_secs(u64::from(RETRY_AFTER_SECONDS))
}

/// The gRPC status of a refused API key: UNAUTHENTICATED (none, or not a configured one) or
/// PERMISSION_DENIED (a key of another scope).
pub(crate) fn denial_status(denial: Denial) -> Status {
    match denial {
        Denial::Missing => Status::unauthenticated(
            "this service needs an API key of scope `ingest`: send the metadata `authorization: \
             Bearer <key>` or `x-api-key: <key>`",
        ),
        Denial::Unknown => Status::unauthenticated(
            "the API key is not valid; send a configured key of scope `ingest`",
        ),
        Denial::WrongScope { required } => Status::permission_denied(format!(
            "the API key is valid but not of scope `{required}`, which this service requires"
        )),
    }
}

/// The HTTP status equivalent to a gRPC code (as gRPC gateways map them), for the request
/// duration histogram that HTTP requests share.
pub(crate) fn http_status_of(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}
