//! `POST /loki/api/v1/push`: Grafana Loki's push API, so that Promtail, Grafana Alloy, Fluent
//! Bit's `loki` output, Vector's `loki` sink and Loki logging libraries ship here by changing
//! their URL only. Protobuf (`application/x-protobuf`, snappy raw block format; Loki's
//! `push.proto`, see `proto/loki/push.proto`) or JSON (`application/json`), either optionally
//! gzip; `204` on success and Loki's plain-text errors otherwise.
//!
//! The entries go through the same use case as `POST /ingest` (`IngestUseCase::ingest_batch`):
//! same validation and limits, same queue, one push and one drain signal per request. How streams
//! and entries become events is in [`mapping`].
//!
//! Partial failure, as Loki does it: the valid entries of a push are queued; when some entries
//! are not valid the answer is `400` with a sentence that counts the queued ones and lists the
//! refused ones by position and reason. Loki clients do not retry a 400, so nothing is sent twice,
//! and nothing is dropped without the client being told.

mod labels;
mod mapping;
mod response;
mod wire;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use application::{IngestError, IngestUseCase};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, OpenApi};
use tracing::info;

use crate::common::access::Authorized;
use crate::common::config::IngestHttpConfig;
use crate::common::error::{ErrorCode, Failure};
use crate::common::metrics::{
    IngestSource, count_accepted, count_rejected, count_rejected_request, failure_code,
};
use crate::common::raw_body::RawBody;
use crate::common::trace::RequestTraceId;
use mapping::map_push;
pub(crate) use response::unavailable;
use response::{PushFailure, PushResponse};
use wire::{PushEncoding, decode_push};

/// Loki's push path.
pub(crate) const LOKI_PUSH_PATH: &str = "/loki/api/v1/push";

/// How many refused entries the 400 sentence lists one by one.
const LISTED_REJECTIONS: usize = 10;

/// The raw request: nothing is checked here, the handler answers every problem in Loki's form.
#[derive(Debug)]
pub(crate) struct PushRequestBody(RawBody);

impl std::ops::Deref for PushRequestBody {
    type Target = RawBody;

    fn deref(&self) -> &RawBody {
        &self.0
    }
}

impl<'a> ApiExtractor<'a> for PushRequestBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "Loki's `PushRequest`: protobuf compressed with snappy (raw block format), or \
                 JSON `{\"streams\":[{\"stream\":{\"job\":\"api\"},\"values\":[[\"<unix epoch \
                 nanoseconds>\",\"<line>\",{\"<structured metadata>\":\"...\"}]]}]}`. Either may \
                 also be sent with `Content-Encoding: gzip`.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/x-protobuf",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                        "string", "binary",
                    ))),
                },
                MetaMediaType {
                    content_type: "application/json",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        RawBody::take(request, body).map(Self)
    }
}

/// The Loki push receiver.
pub(crate) struct LokiPushApi {
    ingest: IngestUseCase,
    limits: IngestHttpConfig,
}

impl LokiPushApi {
    pub(crate) fn new(ingest: IngestUseCase, limits: IngestHttpConfig) -> Self {
        Self { ingest, limits }
    }

    /// Reads, inflates and decodes the body, maps its entries and ingests the valid ones.
    async fn push(
        &self,
        request: PushRequestBody,
        trace: RequestTraceId,
    ) -> Result<(), PushFailure> {
        let PushRequestBody(request) = request;
        let encoding = PushEncoding::from_content_type(request.content_type.as_deref())
            .ok_or_else(|| {
                PushFailure::UnsupportedMediaType(format!(
                    "Content-Type {:?} is not supported: send application/x-protobuf \
                     (snappy-compressed) or application/json",
                    request.content_type.as_deref().unwrap_or_default()
                ))
            })?;
        let gzip = match request.content_encoding.as_deref().map(str::trim) {
            None | Some("") => false,
            // Loki's clients may label the snappy block they always send; it is undone below.
            Some(value) if value.eq_ignore_ascii_case("snappy") => false,
            Some(value) if value.eq_ignore_ascii_case("identity") => false,
            Some(value) if value.eq_ignore_ascii_case("gzip") => true,
            Some(other) => {
                return Err(PushFailure::UnsupportedMediaType(format!(
                    "Content-Encoding {other:?} is not supported: send gzip, snappy or none"
                )));
            }
        };
        let max_bytes = self.limits.max_body_bytes;
        let body = request.read_limited(max_bytes, gzip).await?;
        let bytes = &body[..];
        let pushed = decode_push(encoding, bytes, max_bytes)?;
        let count = pushed.entry_count();
        if count > self.limits.max_batch_events {
            return Err(PushFailure::TooLarge(format!(
                "a push may hold at most {} entries, this one holds {count}; nothing was accepted",
                self.limits.max_batch_events
            )));
        }
        self.ingest_entries(map_push(pushed), trace).await
    }

    async fn ingest_entries(
        &self,
        mapped: Vec<(
            mapping::EntryPosition,
            Result<domain::LogEventDraft, String>,
        )>,
        trace: RequestTraceId,
    ) -> Result<(), PushFailure> {
        let total = mapped.len();
        let mut drafts = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        let mut refused = Vec::new();
        for (position, draft) in mapped {
            match draft {
                Ok(draft) => {
                    drafts.push(draft);
                    positions.push(position);
                }
                Err(reason) => refused.push((position, reason)),
            }
        }
        // An entry whose timestamp or stream labels cannot be read: a field of it is invalid.
        count_rejected(IngestSource::Loki, ErrorCode::InvalidField, refused.len());
        let submitted = drafts.len();
        let outcome = self
            .ingest
            .ingest_batch(drafts, Some(trace.0))
            .await
            .map_err(|error: IngestError| {
                let failure = Failure::from(error);
                count_rejected(IngestSource::Loki, failure_code(&failure), submitted);
                PushFailure::from(failure)
            })?;
        count_accepted(IngestSource::Loki, outcome.accepted.len());
        count_rejected(
            IngestSource::Loki,
            ErrorCode::InvalidField,
            outcome.rejected.len(),
        );
        for rejection in outcome.rejected {
            if let Some(position) = positions.get(rejection.index) {
                refused.push((position.clone(), rejection.error.to_string()));
            }
        }
        let accepted = outcome.accepted.len();
        info!(accepted, rejected = refused.len(), "loki push ingested");
        if refused.is_empty() {
            return Ok(());
        }
        refused.sort_by_key(|(position, _)| (position.stream, position.entry));
        Err(PushFailure::EntriesRejected(rejection_sentence(
            accepted, total, &refused,
        )))
    }
}

/// `2 of 5 entries rejected (the other 3 were accepted): streams[0].values[1]: message must not
/// be blank; ...`, listing the first [`LISTED_REJECTIONS`].
fn rejection_sentence(
    accepted: usize,
    total: usize,
    refused: &[(mapping::EntryPosition, String)],
) -> String {
    let mut sentence = format!(
        "{} of {total} entries rejected (the other {accepted} were accepted)",
        refused.len()
    );
    for (position, reason) in refused.iter().take(LISTED_REJECTIONS) {
        sentence.push_str(&format!("; {position}: {reason}"));
    }
    if refused.len() > LISTED_REJECTIONS {
        sentence.push_str(&format!("; and {} more", refused.len() - LISTED_REJECTIONS));
    }
    sentence
}

#[OpenApi]
impl LokiPushApi {
    /// Push logs with Loki's push API
    ///
    /// Grafana Loki's `POST /loki/api/v1/push`: point Promtail, Grafana Alloy, Fluent Bit,
    /// Vector or a Loki logging library at `http://host:8080` (the client adds the path). Each
    /// entry becomes one event: the `service_name`, `service` or `job` stream label is the
    /// service (else `unknown_service`), `level`/`detected_level`/`severity` (structured metadata,
    /// else stream label) the level (unknown or none: INFO), the other labels and the structured
    /// metadata the metadata, the line the message, the nanosecond timestamp the timestamp.
    /// `204` when every entry was queued; `400` listing the refused entries otherwise (the
    /// valid ones are queued, as Loki does).
    #[oai(path = "/loki/api/v1/push", method = "post")]
    async fn push_logs(
        &self,
        _authorized: Authorized,
        request: PushRequestBody,
        trace: Data<&RequestTraceId>,
    ) -> PushResponse {
        match self.push(request, *trace.0).await {
            Ok(()) => PushResponse::Pushed,
            Err(failure) => {
                if let Some(reason) = failure.request_reason() {
                    count_rejected_request(IngestSource::Loki, reason);
                }
                failure.into()
            }
        }
    }
}
