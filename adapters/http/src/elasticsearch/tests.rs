//! The bulk API through the whole ingestion app, over a mocked queue: answers item by item,
//! whole-request errors, keys, and a hostile-input corpus that never loses the good documents.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::io::Write;
use std::sync::Arc;

use application::ports::{MockDrainSignal, MockQueueProducer, QueueError};
use domain::LogEvent;
use poem::http::StatusCode;
use poem::test::TestClient;
use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::app::ingestion_app;
use crate::common::keys::ApiKeys;
use crate::common::test_apps::ingestion_over_mocks;

const KEY: &str = "an-ingest-key-0123456789";

fn app_with(queue: MockQueueProducer, signals: usize, keys: ApiKeys) -> impl Endpoint {
    ingestion_over_mocks(queue, signals, 5, keys)
}

fn app(queue: MockQueueProducer, signals: usize) -> impl Endpoint {
    app_with(queue, signals, ApiKeys::none())
}

fn queue_expecting(check: fn(&[LogEvent]) -> bool) -> MockQueueProducer {
    let mut queue = MockQueueProducer::new();
    queue
        .expect_push()
        .times(1)
        .withf(check)
        .returning(|_| Ok(()));
    queue
}

fn no_push() -> MockQueueProducer {
    let mut queue = MockQueueProducer::new();
    queue.expect_push().times(0);
    queue
}

struct Answer {
    status: StatusCode,
    product: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn send(
    app: impl Endpoint,
    method: Method,
    path: &str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Answer {
    let client = TestClient::new(app);
    let mut request = client.request(method, path).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await;
    let header = |name: &str| {
        response
            .0
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let status = response.0.status();
    let product = header("x-elastic-product");
    let retry_after = header("retry-after");
    let text = response.0.into_body().into_string().await.unwrap();
    Answer {
        status,
        product,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn bulk(app: impl Endpoint, path: &str, body: &str) -> Answer {
    send(
        app,
        Method::POST,
        path,
        &[("content-type", "application/x-ndjson")],
        body.as_bytes().to_vec(),
    )
    .await
}

fn statuses(answer: &Answer) -> Vec<(String, u64)> {
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let (action, result) = item.as_object().unwrap().iter().next().unwrap();
            (action.clone(), result["status"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn good_documents_are_queued_with_one_push_and_every_item_gets_its_own_status() {
    let queue = queue_expecting(|events| {
        events.len() == 2
            && events[0].service().as_str() == "checkout"
            && events[0].level().to_string() == "WARN"
            && events[0].message().as_str() == "card declined"
            && events[0].metadata().get("user.id") == Some("42")
            && events[0].metadata().get("_index") == Some("logs")
            && events[0].metadata().get("_id") == Some("doc-1")
            && events[1].service().as_str() == "logs"
            && events[1].message().as_str() == "second"
    });
    let body = concat!(
        "{\"index\":{\"_id\":\"doc-1\"}}\n",
        "{\"@timestamp\":\"2026-12-04T10:00:00Z\",\"message\":\"card declined\",\"log.level\":\"warn\",\"service\":{\"name\":\"checkout\"},\"user\":{\"id\":42}}\n",
        "{\"create\":{}}\n",
        "{\"message\": broken\n",
        "{\"delete\":{\"_id\":\"x\"}}\n",
        "{\"index\":{}}\n",
        "{\"level\":\"info\"}\n",
        "{\"create\":{}}\n",
        "{\"msg\":\"second\"}\n",
    );

    let answer = bulk(app(queue, 1), "/logs/_bulk", body).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(answer.body["errors"], true);
    assert_eq!(
        statuses(&answer),
        [
            ("index".to_owned(), 201),
            ("create".to_owned(), 400),
            ("delete".to_owned(), 400),
            ("index".to_owned(), 400),
            ("create".to_owned(), 201),
        ]
    );
    let items = &answer.body["items"];
    assert_eq!(items[0]["index"]["_id"], "doc-1");
    assert_eq!(items[0]["index"]["_index"], "logs");
    assert_eq!(items[0]["index"]["result"], "created");
    assert_eq!(
        items[1]["create"]["error"]["type"],
        "document_parsing_exception"
    );
    assert!(
        items[3]["index"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("message"),
        "{items}"
    );
    assert_eq!(
        items[2]["delete"]["error"]["type"],
        "illegal_argument_exception"
    );
    assert_eq!(
        items[4]["create"]["_id"].as_str().unwrap().len(),
        36,
        "the event's id"
    );
    assert!(answer.body["took"].is_u64());
}

#[tokio::test]
async fn a_bulk_without_any_error_says_so() {
    let queue = queue_expecting(|events| events.len() == 1);
    let answer = bulk(
        app(queue, 1),
        "/_bulk",
        "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n",
    )
    .await;
    assert_eq!(answer.body["errors"], false);
    assert_eq!(statuses(&answer), [("index".to_owned(), 201)]);
}

#[tokio::test]
async fn a_gzip_body_is_inflated_and_a_corrupt_one_refused_with_the_product_header() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(b"{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"zipped\"}\n")
        .unwrap();
    let zipped = encoder.finish().unwrap();
    let queue = queue_expecting(|events| events[0].message().as_str() == "zipped");
    let answer = send(
        app(queue, 1),
        Method::POST,
        "/_bulk",
        &[("content-encoding", "gzip")],
        zipped.clone(),
    )
    .await;
    assert_eq!(statuses(&answer), [("index".to_owned(), 201)]);

    let answer = send(
        app(no_push(), 0),
        Method::POST,
        "/_bulk",
        &[("content-encoding", "gzip")],
        zipped[..10].to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(answer.body["error"]["type"], "malformed_body");
}

#[tokio::test]
async fn an_unreadable_action_line_refuses_the_whole_request_in_elasticsearch_shape() {
    let answer = bulk(
        app(no_push(), 0),
        "/_bulk",
        "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n{\"upsert\":{}}\n{}\n",
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(answer.body["status"], 400);
    assert_eq!(answer.body["error"]["type"], "illegal_argument_exception");
    assert_eq!(
        answer.body["error"]["root_cause"][0]["reason"],
        "Malformed action/metadata line [3], expected one of [create, delete, index, update] but found [upsert]"
    );
}

#[tokio::test]
async fn more_documents_than_the_batch_limit_are_refused_whole() {
    let body = "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n".repeat(6);
    let answer = bulk(app(no_push(), 0), "/_bulk", &body).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["error"]["type"], "too_many_events");
}

#[tokio::test]
async fn a_full_queue_is_429_and_an_unreachable_one_503_both_with_retry_after() {
    for (refusal, status) in [
        (
            QueueError::Full {
                depth: 9,
                capacity: 9,
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            QueueError::Unavailable("down".into()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        let mut queue = MockQueueProducer::new();
        let mut refusal = Some(refusal);
        queue
            .expect_push()
            .times(1)
            .returning(move |_| Err(refusal.take().unwrap()));
        let answer = bulk(
            app(queue, 0),
            "/_bulk",
            "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n",
        )
        .await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
        assert_eq!(answer.body["status"], status.as_u16());
    }
}

#[tokio::test]
async fn the_root_answers_a_version_8_document_and_head_answers_too() {
    let answer = send(app(no_push(), 0), Method::GET, "/", &[], Vec::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(answer.body["version"]["number"], "8.11.0");
    assert_eq!(answer.body["version"]["build_flavor"], "default");
    assert_eq!(answer.body["tagline"], "You Know, for Search");
    let head = send(app(no_push(), 0), Method::HEAD, "/", &[], Vec::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.product.as_deref(), Some("Elasticsearch"));
    let health = send(
        app(no_push(), 0),
        Method::HEAD,
        "/_cat/health",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(health.status, StatusCode::OK);
    // The service's own routes still answer.
    let ours = send(app(no_push(), 0), Method::GET, "/health", &[], Vec::new()).await;
    assert_eq!(ours.status, StatusCode::OK);
    assert_eq!(ours.product, None);
}

#[tokio::test]
async fn with_keys_elasticsearch_api_keys_and_the_common_headers_open_the_bulk_api() {
    let keys = || ApiKeys::from_config(KEY, "", "").unwrap();
    let document = "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n";
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("my-id:{KEY}"));
    for authorization in [
        format!("ApiKey {encoded}"),
        format!("ApiKey {KEY}"),
        format!("Bearer {KEY}"),
    ] {
        let queue = queue_expecting(|events| events.len() == 1);
        let answer = send(
            app_with(queue, 1, keys()),
            Method::POST,
            "/_bulk",
            &[("authorization", &authorization)],
            document.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{authorization}");
    }
    let wrong = base64::engine::general_purpose::STANDARD.encode("my-id:not-the-key-0123456789");
    let answer = send(
        app_with(no_push(), 0, keys()),
        Method::POST,
        "/_bulk",
        &[("authorization", &format!("ApiKey {wrong}"))],
        document.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
    assert_eq!(answer.body["error"]["type"], "security_exception");
}

#[test]
fn an_api_key_header_gives_the_key_part_of_its_credentials() {
    let request = |value: &str| Request::builder().header(AUTHORIZATION, value).finish();
    let encoded = base64::engine::general_purpose::STANDARD.encode("id:the:key");
    assert_eq!(
        api_key(&request(&format!("ApiKey {encoded}"))).as_deref(),
        Some("the:key")
    );
    assert_eq!(
        api_key(&request("apikey plain-key")).as_deref(),
        Some("plain-key")
    );
    assert_eq!(api_key(&request("Bearer other")), None);
}

/// Bodies a shipper could send by mistake or an attacker on purpose, each with the status of
/// the whole answer and, when 200, the statuses of its items. The good documents among them are
/// always queued.
const HOSTILE: &[(&str, u16, &[u64])] = &[
    // a source line missing at the end
    ("{\"index\":{\"_index\":\"a\"}}\n", 400, &[]),
    // a source line missing in the middle: the next action is read as the source
    (
        "{\"index\":{\"_index\":\"a\"}}\n{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"m\"}\n",
        400,
        &[],
    ),
    // bad JSON and not-an-object sources next to a good one
    (
        "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\n{\"index\":{\"_index\":\"a\"}}\n\"text\"\n{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"good\"}\n",
        200,
        &[400, 400, 201],
    ),
    // an action that is an array, or empty
    ("[]\n{}\n", 400, &[]),
    ("{}\n{}\n", 400, &[]),
    // no index anywhere
    ("{\"index\":{}}\n{\"message\":\"good\"}\n", 200, &[400]),
];

#[tokio::test]
async fn the_hostile_corpus_gets_clear_answers_and_good_documents_are_kept() {
    for (body, status, items) in HOSTILE {
        let goods = items.iter().filter(|status| **status == 201).count();
        let mut queue = MockQueueProducer::new();
        queue
            .expect_push()
            .times(usize::from(goods > 0))
            .withf(move |events| {
                events.len() == goods
                    && events.iter().all(|event| {
                        event.message().as_str() == "good" || event.message().as_str() == "m"
                    })
            })
            .returning(|_| Ok(()));
        let answer = bulk(app(queue, usize::from(goods > 0)), "/_bulk", body).await;
        assert_eq!(answer.status.as_u16(), *status, "{body:?}: {}", answer.body);
        assert_eq!(answer.product.as_deref(), Some("Elasticsearch"), "{body:?}");
        if *status == 200 {
            let got: Vec<u64> = statuses(&answer)
                .into_iter()
                .map(|(_, status)| status)
                .collect();
            assert_eq!(&got, items, "{body:?}");
        } else {
            assert!(
                answer.body["error"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{body:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_oversized_message_fails_its_item_naming_the_field_and_the_rest_is_queued() {
    let huge = "x".repeat(70 * 1024);
    let body = format!(
        "{{\"index\":{{\"_index\":\"a\"}}}}\n{{\"message\":\"{huge}\"}}\n{{\"index\":{{\"_index\":\"a\"}}}}\n{{\"message\":\"good\"}}\n"
    );
    let mut signal = MockDrainSignal::new();
    signal.expect_request_drain().times(1).returning(|| Ok(()));
    let app = ingestion_app(
        IngestUseCase::new(
            Arc::new(queue_expecting(|events| {
                events.len() == 1 && events[0].message().as_str() == "good"
            })),
            Arc::new(signal),
        ),
        IngestHttpConfig {
            max_body_bytes: 1024 * 1024,
            ..IngestHttpConfig::default()
        },
        ApiKeys::none(),
    );
    let answer = bulk(app, "/_bulk", &body).await;
    assert_eq!(
        statuses(&answer)
            .iter()
            .map(|(_, s)| *s)
            .collect::<Vec<_>>(),
        [400, 201]
    );
    let reason = answer.body["items"][0]["index"]["error"]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("message must be at most"), "{reason}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bodies_never_panic_and_always_answer_in_elasticsearch_shape(
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut queue = MockQueueProducer::new();
        queue.expect_push().returning(|_| Ok(()));
        let mut signal = MockDrainSignal::new();
        signal.expect_request_drain().returning(|| Ok(()));
        let app = ingestion_app(
            IngestUseCase::new(Arc::new(queue), Arc::new(signal)),
            IngestHttpConfig::default(),
            ApiKeys::none(),
        );
        let answer = runtime.block_on(send(app, Method::POST, "/_bulk", &[], body));
        prop_assert!(answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST, "{}", answer.status);
        prop_assert_eq!(answer.product.as_deref(), Some("Elasticsearch"));
        if answer.status == StatusCode::BAD_REQUEST {
            prop_assert!(answer.body["error"]["type"].is_string());
        } else {
            prop_assert!(answer.body["items"].is_array());
        }
    }
}
