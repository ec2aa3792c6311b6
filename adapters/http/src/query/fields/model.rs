//! The documents of field discovery and their responses.

use application::ports::GroupCount;
use application::{FieldSummary, FieldValues, SampleInfo};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::common::access::{DeniedAnswer, denied_answer};
use crate::common::error::{ErrorBody, Failure, RETRY_AFTER_SECONDS, request_error};
use crate::query::model::{QueryFailure, query_failures};

/// A field or value and how many logs have it.
#[derive(Debug, Object)]
pub(crate) struct Counted {
    /// The service, level, metadata key or value.
    name: String,
    /// Logs that have it (within the sample, for metadata).
    count: u64,
}

impl From<GroupCount> for Counted {
    fn from(group: GroupCount) -> Self {
        Self {
            name: group.key,
            count: group.count,
        }
    }
}

/// How a metadata count was made.
#[derive(Debug, Object)]
pub(crate) struct SampleBody {
    /// Logs read to count it.
    events_read: u64,
    /// Whether more logs matched than were read: the counts are then those of a sample (the
    /// first logs ClickHouse read) and a key or value seen only in the rest is missing.
    partial: bool,
}

impl From<SampleInfo> for SampleBody {
    fn from(sample: SampleInfo) -> Self {
        Self {
            events_read: sample.events_read,
            partial: sample.partial,
        }
    }
}

fn counted(groups: Vec<GroupCount>) -> Vec<Counted> {
    groups.into_iter().map(Counted::from).collect()
}

/// The fields of the logs in a range.
#[derive(Debug, Object)]
pub(crate) struct FieldsBody {
    /// Services, most logs first; exact counts.
    services: Vec<Counted>,
    /// Levels, most logs first; exact counts.
    levels: Vec<Counted>,
    /// Metadata keys, most logs first; counted over `sample`.
    metadata_keys: Vec<Counted>,
    sample: SampleBody,
}

impl From<FieldSummary> for FieldsBody {
    fn from(summary: FieldSummary) -> Self {
        Self {
            services: counted(summary.services),
            levels: counted(summary.levels),
            metadata_keys: counted(summary.metadata_keys),
            sample: summary.sample.into(),
        }
    }
}

/// The most frequent values of one field.
#[derive(Debug, Object)]
pub(crate) struct FieldValuesBody {
    /// The field, as asked for: `service`, `level` or `metadata.<key>`.
    field: String,
    /// Values, most logs first, equal counts by value.
    values: Vec<Counted>,
    /// For a metadata key, how its values were counted; absent for exact counts.
    #[oai(skip_serializing_if_is_none)]
    sample: Option<SampleBody>,
}

impl From<FieldValues> for FieldValuesBody {
    fn from(values: FieldValues) -> Self {
        Self {
            field: values.field.to_string(),
            values: counted(values.values),
            sample: values.sample.map(SampleBody::from),
        }
    }
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "fields_request_error")]
pub(crate) enum FieldsResponse {
    /// The services, levels and metadata keys of the logs in the range.
    #[oai(status = 200)]
    Ok(Json<FieldsBody>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`), or the request took longer than
    /// `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The query ran longer than allowed (`query_timeout`): narrow the range.
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(FieldsResponse, fields_request_error);

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "field_values_request_error")]
pub(crate) enum FieldValuesResponse {
    /// The most frequent values of the field.
    #[oai(status = 200)]
    Ok(Json<FieldValuesBody>),
    /// A parameter is invalid (`code` `invalid_parameter`); `field` names it (`field` for an
    /// unknown field name).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key was sent (`missing_api_key`), or not a valid one (`invalid_api_key`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The API key is valid but not of scope `query` (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// ClickHouse cannot be reached (`store_unavailable`), or the request took longer than
    /// `HTTP_REQUEST_TIMEOUT_MS` (`request_timeout`). Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// The query ran longer than allowed (`query_timeout`): narrow the range.
    #[oai(status = 504)]
    TimedOut(Json<ErrorBody>),
}
query_failures!(FieldValuesResponse, field_values_request_error);
