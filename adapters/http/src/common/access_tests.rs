//! API keys over HTTP, on both apps: missing and wrong keys are 401 with a challenge, a key of
//! the other scope is 403, a right key passes as a bearer token, a Basic auth password or as
//! `X-API-Key`, the open
//! endpoints stay open, and the OpenAPI documents declare the security schemes.

use std::sync::Arc;

use application::ports::{LogReader, MockDrainSignal, MockQueueProducer};
use application::testing::InMemoryLogStore;
use application::{IngestUseCase, QueryUseCase};
use poem::Endpoint;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use prost::Message as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::{ingestion_app, query_app};
use crate::common::config::IngestHttpConfig;
use crate::common::keys::{ApiKeys, Scope, key_digest_entry};

const INGEST_KEY: &str = "ingest-key-0123456789abcdef";
const QUERY_KEY: &str = "query-key-0123456789abcdef";
const EVENT: &str = r#"{"service":"api","level":"INFO","message":"ok"}"#;

/// `google.rpc.Status`, as an OTLP client decodes it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// One ingest key (configured as its digest) and one query key.
fn keys() -> ApiKeys {
    let mut keys = ApiKeys::none();
    keys.add_list(
        Scope::Ingest,
        &key_digest_entry(INGEST_KEY),
        "INGEST_API_KEYS",
    )
    .unwrap();
    keys.add_list(Scope::Query, QUERY_KEY, "QUERY_API_KEYS")
        .unwrap();
    keys
}

/// The ingestion app over a queue that expects `pushes` pushes.
fn ingestion(keys: ApiKeys, pushes: usize) -> TestClient<impl Endpoint> {
    let mut queue = MockQueueProducer::new();
    queue.expect_push().times(pushes).returning(|_| Ok(()));
    queue.expect_health().returning(|| Ok(()));
    let mut signal = MockDrainSignal::new();
    signal
        .expect_request_drain()
        .times(pushes)
        .returning(|| Ok(()));
    TestClient::new(ingestion_app(
        IngestUseCase::new(Arc::new(queue), Arc::new(signal)),
        IngestHttpConfig::default(),
        keys,
    ))
}

fn query(keys: ApiKeys) -> TestClient<impl Endpoint> {
    let store: Arc<dyn LogReader> = Arc::new(InMemoryLogStore::default());
    TestClient::new(query_app(
        QueryUseCase::with_settings(store, Default::default(), CancellationToken::new()),
        keys,
    ))
}

async fn post_event(
    client: &TestClient<impl Endpoint>,
    header: Option<(&str, &str)>,
) -> TestResponse {
    let mut request = client
        .post("/ingest")
        .content_type("application/json")
        .body(EVENT);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await
}

async fn get(
    client: &TestClient<impl Endpoint>,
    uri: &str,
    header: Option<(&str, &str)>,
) -> TestResponse {
    let mut request = client.get(uri);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await
}

fn header(response: &TestResponse, name: &str) -> Option<String> {
    response
        .0
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

async fn json(response: TestResponse) -> Value {
    response.0.into_body().into_json().await.unwrap()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// `Authorization: Basic` credentials of `user` and `password`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}

#[tokio::test]
async fn ingest_and_query_accept_the_key_as_the_basic_auth_password_with_any_user_name() {
    let client = ingestion(keys(), 3);
    for user in ["", "promtail", "tenant-1"] {
        let response = post_event(&client, Some(("Authorization", &basic(user, INGEST_KEY)))).await;
        assert_eq!(response.0.status(), StatusCode::ACCEPTED, "user {user:?}");
    }
    let response = get(
        &query(keys()),
        "/logs",
        Some(("authorization", &basic("grafana", QUERY_KEY))),
    )
    .await;
    assert_eq!(response.0.status(), StatusCode::OK);
}

#[tokio::test]
async fn basic_auth_with_a_wrong_password_or_broken_credentials_is_401_invalid_or_403() {
    let client = ingestion(keys(), 0);
    for credentials in [
        basic("promtail", "not-a-configured-key"),
        // the key as the user name, not the password
        basic(INGEST_KEY, ""),
        "Basic !!!not-base64!!!".to_owned(),
        // base64 of text without the colon
        "Basic aW5nZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVm".to_owned(),
    ] {
        let response = post_event(&client, Some(("Authorization", &credentials))).await;
        assert_eq!(
            response.0.status(),
            StatusCode::UNAUTHORIZED,
            "{credentials}"
        );
        assert_eq!(
            json(response).await["code"],
            "invalid_api_key",
            "{credentials}"
        );
    }
    let response = post_event(&client, Some(("Authorization", &basic("x", QUERY_KEY)))).await;
    assert_eq!(response.0.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn basic_auth_counts_over_x_api_key_when_both_are_sent() {
    let client = ingestion(keys(), 0);
    let response = client
        .post("/ingest")
        .content_type("application/json")
        .header("Authorization", basic("u", QUERY_KEY))
        .header("X-API-Key", INGEST_KEY)
        .body(EVENT)
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ingest_without_a_key_is_401_with_a_bearer_challenge_and_queues_nothing() {
    let client = ingestion(keys(), 0);
    let response = post_event(&client, None).await;
    assert_eq!(response.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&response, "WWW-Authenticate").as_deref(),
        Some("Bearer realm=\"ingest\"")
    );
    let body = json(response).await;
    assert_eq!(body["code"], "missing_api_key");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
}

#[tokio::test]
async fn ingest_with_an_unknown_key_is_401_invalid_token_in_either_header() {
    let client = ingestion(keys(), 0);
    let wrong = bearer("not-a-configured-key-000");
    for presented in [
        ("Authorization", wrong.as_str()),
        ("X-API-Key", "not-a-configured-key-000"),
        // The digest written in the configuration is not itself a key.
        ("X-API-Key", &key_digest_entry(INGEST_KEY)),
        // Basic credentials are base64 of `user:key`; the bare key is not.
        ("Authorization", &format!("Basic {INGEST_KEY}")),
    ] {
        let response = post_event(&client, Some(presented)).await;
        assert_eq!(
            response.0.status(),
            StatusCode::UNAUTHORIZED,
            "{presented:?}"
        );
        let challenge = header(&response, "WWW-Authenticate").unwrap_or_default();
        let body = json(response).await;
        assert_eq!(body["code"], "invalid_api_key", "{presented:?}");
        assert_eq!(
            challenge,
            "Bearer realm=\"ingest\", error=\"invalid_token\""
        );
        // The answer never repeats the key.
        assert!(!body.to_string().contains("not-a-configured-key"));
    }
}

#[tokio::test]
async fn ingest_with_a_query_key_is_403_insufficient_scope() {
    let client = ingestion(keys(), 0);
    let response = post_event(&client, Some(("Authorization", &bearer(QUERY_KEY)))).await;
    assert_eq!(response.0.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&response, "WWW-Authenticate"), None);
    let body = json(response).await;
    assert_eq!(
        body,
        json!({
            "code": "insufficient_scope",
            "reason": "the API key is valid but not of scope `ingest`, which this service requires"
        })
    );
}

#[tokio::test]
async fn ingest_with_its_key_is_202_as_a_bearer_token_and_as_x_api_key() {
    let client = ingestion(keys(), 3);
    let as_bearer = bearer(INGEST_KEY);
    for presented in [
        ("Authorization", as_bearer.as_str()),
        ("authorization", &format!("bearer   {INGEST_KEY}")),
        ("X-API-Key", INGEST_KEY),
    ] {
        let response = post_event(&client, Some(presented)).await;
        assert_eq!(response.0.status(), StatusCode::ACCEPTED, "{presented:?}");
        assert_eq!(json(response).await["status"], "accepted");
    }
}

#[tokio::test]
async fn a_bearer_token_counts_over_x_api_key_when_both_are_sent() {
    let client = ingestion(keys(), 0);
    let response = client
        .post("/ingest")
        .content_type("application/json")
        .header("Authorization", bearer(QUERY_KEY))
        .header("X-API-Key", INGEST_KEY)
        .body(EVENT)
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_key_is_checked_before_the_body_so_a_bad_body_without_a_key_is_401() {
    let client = ingestion(keys(), 0);
    let response = client
        .post("/ingest")
        .content_type("text/plain")
        .body("not json")
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_service_without_keys_of_its_scope_is_open() {
    let mut query_keys_only = ApiKeys::none();
    query_keys_only
        .add_list(Scope::Query, QUERY_KEY, "QUERY_API_KEYS")
        .unwrap();
    let client = ingestion(query_keys_only, 1);
    let response = post_event(&client, None).await;
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);

    let response = get(&query(ApiKeys::none()), "/logs", None).await;
    assert_eq!(response.0.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_ready_docs_and_the_openapi_document_stay_open_with_keys_configured() {
    let ingestion = ingestion(keys(), 0);
    let query = query(keys());
    for uri in ["/health", "/ready", "/docs", "/openapi.json"] {
        let response = get(&ingestion, uri, None).await;
        assert_eq!(response.0.status(), StatusCode::OK, "ingestion {uri}");
        let response = get(&query, uri, None).await;
        assert_eq!(response.0.status(), StatusCode::OK, "query {uri}");
    }
}

#[tokio::test]
async fn every_read_of_the_query_service_needs_a_query_key() {
    let client = query(keys());
    let reads = [
        "/logs",
        "/logs/stats?group_by=level",
        "/logs/histogram?interval=1h",
        "/logs/tail",
        "/logs/export",
    ];
    for uri in reads {
        let response = get(&client, uri, None).await;
        assert_eq!(response.0.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            header(&response, "WWW-Authenticate").as_deref(),
            Some("Bearer realm=\"query\""),
            "{uri}"
        );
        assert_eq!(json(response).await["code"], "missing_api_key", "{uri}");

        let response = get(&client, uri, Some(("X-API-Key", INGEST_KEY))).await;
        assert_eq!(response.0.status(), StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(json(response).await["code"], "insufficient_scope", "{uri}");
    }
    // The tail is a stream that never ends; the finite reads answer with the data.
    for uri in &reads[..3] {
        let response = get(&client, uri, Some(("Authorization", &bearer(QUERY_KEY)))).await;
        assert_eq!(response.0.status(), StatusCode::OK, "{uri}");
    }
    let response = get(&client, "/logs/export", Some(("X-API-Key", QUERY_KEY))).await;
    assert_eq!(response.0.status(), StatusCode::OK);
}

#[tokio::test]
async fn otlp_refusals_are_google_rpc_statuses_in_the_request_encoding() {
    let client = ingestion(keys(), 0);
    let response = client
        .post("/v1/logs")
        .content_type("application/x-protobuf")
        .body(Vec::new())
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&response, "WWW-Authenticate").as_deref(),
        Some("Bearer realm=\"ingest\"")
    );
    assert_eq!(
        header(&response, "Content-Type").as_deref(),
        Some("application/x-protobuf")
    );
    let bytes = response.0.into_body().into_vec().await.unwrap();
    let status = RpcStatus::decode(&bytes[..]).unwrap();
    assert_eq!(status.code, 16, "UNAUTHENTICATED");

    let response = client
        .post("/v1/logs")
        .content_type("application/json")
        .header("X-API-Key", QUERY_KEY)
        .body("{}")
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::FORBIDDEN);
    let body = json(response).await;
    assert_eq!(body["code"], 7, "PERMISSION_DENIED");
    assert!(body["message"].as_str().unwrap().contains("scope `ingest`"));
}

#[tokio::test]
async fn otlp_with_an_ingest_key_is_exported() {
    let client = ingestion(keys(), 0);
    let response = client
        .post("/v1/logs")
        .content_type("application/json")
        .header("Authorization", bearer(INGEST_KEY))
        .body("{}")
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::OK);
}

/// The security requirement of an operation in an OpenAPI document.
fn security(document: &Value, path: &str, method: &str) -> Value {
    document["paths"][path][method]["security"].clone()
}

#[tokio::test]
async fn the_openapi_documents_declare_the_three_schemes_on_the_protected_operations_only() {
    let all = json!([{"bearer": []}, {"basic": []}, {"api_key": []}]);
    let documents = [
        (
            json(get(&ingestion(keys(), 0), "/openapi.json", None).await).await,
            vec![
                ("/ingest", "post"),
                ("/v1/logs", "post"),
                ("/loki/api/v1/push", "post"),
            ],
        ),
        (
            json(get(&query(keys()), "/openapi.json", None).await).await,
            vec![
                ("/logs", "get"),
                ("/logs/stats", "get"),
                ("/logs/histogram", "get"),
                ("/logs/tail", "get"),
                ("/logs/export", "get"),
            ],
        ),
    ];
    for (document, protected) in documents {
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["type"], "http");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["basic"]["type"], "http");
        assert_eq!(schemes["basic"]["scheme"], "basic");
        assert_eq!(schemes["api_key"]["type"], "apiKey");
        assert_eq!(schemes["api_key"]["in"], "header");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        for (path, method) in protected {
            assert_eq!(security(&document, path, method), all, "{path}");
            let responses = &document["paths"][path][method]["responses"];
            // poem-openapi writes the header names of its responses in capitals.
            let headers = responses["401"]["headers"].as_object().cloned();
            assert!(
                headers.is_some_and(|headers| headers
                    .keys()
                    .any(|name| name.eq_ignore_ascii_case("WWW-Authenticate"))),
                "{path}"
            );
            assert!(responses["403"].is_object(), "{path}");
        }
        for open in ["/health", "/ready"] {
            assert_eq!(security(&document, open, "get"), Value::Null, "{open}");
            assert!(document["paths"][open]["get"]["responses"]["401"].is_null());
        }
    }
}

/// The served document of an app, and the one its Swagger UI page embeds (with the rest of the
/// page after it).
async fn served_documents(client: &TestClient<impl Endpoint>) -> (Value, String) {
    let document = json(get(client, "/openapi.json", None).await).await;
    let page = get(client, "/docs/", None).await;
    assert_eq!(page.0.status(), StatusCode::OK);
    let page = page.0.into_body().into_string().await.unwrap();
    // The page's own script names `securitySchemes` too: only the embedded document counts.
    let (_, embedded) = page
        .split_once("let spec = ")
        .expect("the page embeds a document");
    (document, embedded.to_owned())
}

#[tokio::test]
async fn services_without_keys_declare_no_security_in_their_documents_or_swagger_ui() {
    let documents = [
        served_documents(&ingestion(ApiKeys::none(), 0)).await,
        served_documents(&query(ApiKeys::none())).await,
    ];
    for (document, page) in documents {
        assert!(document["paths"]["/health"].is_object(), "{document}");
        assert!(
            document["components"].get("securitySchemes").is_none(),
            "{document}"
        );
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                assert!(operation.get("security").is_none(), "{method} {path}");
            }
        }
        assert!(page.contains("\"/health\""), "the page embeds the document");
        assert!(!page.contains("securitySchemes"), "{page}");
    }
}

#[tokio::test]
async fn keys_of_one_scope_put_security_only_in_the_document_of_that_scope() {
    let ingest_only = || {
        let mut keys = ApiKeys::none();
        keys.add_list(Scope::Ingest, INGEST_KEY, "INGEST_API_KEYS")
            .unwrap();
        keys
    };
    let (keyed, keyed_page) = served_documents(&ingestion(ingest_only(), 0)).await;
    let (open, _) = served_documents(&query(ingest_only())).await;

    assert!(keyed["components"]["securitySchemes"].is_object());
    assert!(keyed_page.contains("securitySchemes"));
    assert!(open["components"].get("securitySchemes").is_none());
}
