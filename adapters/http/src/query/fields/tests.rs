//! Field discovery over HTTP on the in-memory store: the documented answers, the errors, and
//! the OpenAPI document.

use std::sync::Arc;

use application::ports::LogWriter;
use application::testing::{InMemoryLogStore, store_contract::custom_event};
use application::{QuerySettings, QueryUseCase};
use domain::{Level, SampleRows, Timestamp};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::query_app;
use crate::common::keys::ApiKeys;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + seconds * 1_000_000_000)
}

async fn app_with(sample: u64) -> impl poem::Endpoint {
    let store = Arc::new(InMemoryLogStore::default());
    store
        .insert(&[
            custom_event(
                "auth",
                Level::Error,
                "a",
                at(0),
                &[("user id", "42")],
                TRACE,
            ),
            custom_event(
                "auth",
                Level::Info,
                "b",
                at(1),
                &[("user id", "7"), ("host", "x")],
                TRACE,
            ),
            custom_event(
                "billing",
                Level::Info,
                "c",
                at(2),
                &[("user id", "42")],
                TRACE,
            ),
            custom_event(
                "billing",
                Level::Info,
                "old",
                at(9000),
                &[("late", "1")],
                TRACE,
            ),
        ])
        .await
        .unwrap();
    let query = QueryUseCase::with_settings(
        store,
        QuerySettings {
            max_range: None,
            field_sample: SampleRows::new(sample),
            ..QuerySettings::default()
        },
        CancellationToken::new(),
    );
    query_app(query, ApiKeys::default())
}

async fn get_json(app: impl poem::Endpoint, uri: &str) -> (StatusCode, Value) {
    let response = TestClient::new(app).get(uri).send().await;
    let status = response.0.status();
    let body = response.0.into_body().into_vec().await.unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

const RANGE: &str = "from=2026-05-05T10:00:00Z&to=2026-05-05T11:00:00Z";

#[tokio::test]
async fn fields_list_services_levels_and_metadata_keys_of_the_range_with_counts() {
    let (status, body) = get_json(app_with(1000).await, &format!("/logs/fields?{RANGE}")).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "services": [{"name": "auth", "count": 2}, {"name": "billing", "count": 1}],
            "levels": [{"name": "INFO", "count": 2}, {"name": "ERROR", "count": 1}],
            "metadata_keys": [{"name": "user id", "count": 3}, {"name": "host", "count": 1}],
            "sample": {"events_read": 3, "partial": false},
        })
    );
}

#[tokio::test]
async fn a_sample_smaller_than_the_matches_says_it_is_partial() {
    let (status, body) = get_json(
        app_with(2).await,
        &format!("/logs/fields?{RANGE}&service=auth,billing&limit=1"),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sample"], json!({"events_read": 2, "partial": true}));
    assert_eq!(body["services"], json!([{"name": "auth", "count": 2}]));
    assert_eq!(
        body["metadata_keys"],
        json!([{"name": "user id", "count": 2}])
    );
}

#[tokio::test]
async fn the_values_of_a_metadata_key_are_counted_and_of_service_exactly() {
    let (status, body) = get_json(
        app_with(1000).await,
        &format!("/logs/fields/metadata.user%20id/values?{RANGE}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "field": "metadata.user id",
            "values": [{"name": "42", "count": 2}, {"name": "7", "count": 1}],
            "sample": {"events_read": 3, "partial": false},
        })
    );

    let (status, body) = get_json(
        app_with(1000).await,
        &format!("/logs/fields/level/values?{RANGE}&service=auth"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "field": "level",
            "values": [{"name": "ERROR", "count": 1}, {"name": "INFO", "count": 1}],
        })
    );
}

#[tokio::test]
async fn an_unknown_field_or_a_bad_range_is_refused_naming_the_parameter() {
    for (uri, field) in [
        ("/logs/fields/user_id/values".to_owned(), "field"),
        ("/logs/fields/metadata./values".to_owned(), "field"),
        ("/logs/fields?from=yesterday".to_owned(), "from"),
        (
            format!("/logs/fields/service/values?{RANGE}&limit=0"),
            "limit",
        ),
    ] {
        let (status, body) = get_json(app_with(1000).await, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{uri}");
        assert_eq!(body["field"], field, "{uri}: {body}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_both_endpoints_with_their_statuses() {
    let (status, spec) = get_json(app_with(1).await, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/logs/fields", "/logs/fields/{name}/values"] {
        let responses = &spec["paths"][path]["get"]["responses"];
        for code in ["200", "400", "401", "403", "500", "503", "504"] {
            assert!(responses[code].is_object(), "{path} {code}: {responses}");
        }
    }
}
