//! The explorer's files as the query service serves them: at the right paths, with their types
//! and the security headers, beside an API that still answers; and the files themselves refer
//! only to each other (no external request, no inline script, no HTML built from text).

use std::sync::Arc;

use application::testing::InMemoryLogStore;
use application::{QuerySettings, QueryUseCase};
use poem::http::StatusCode;
use poem::test::TestClient;
use tokio_util::sync::CancellationToken;

use super::{ASSETS, CONTENT_SECURITY_POLICY, INDEX};
use crate::app::query_app;
use crate::common::keys::ApiKeys;

fn app(keys: ApiKeys) -> impl poem::Endpoint {
    let query = QueryUseCase::with_settings(
        Arc::new(InMemoryLogStore::default()),
        QuerySettings::default(),
        CancellationToken::new(),
    );
    query_app(query, keys)
}

fn locked() -> ApiKeys {
    ApiKeys::from_config("", "a-query-key-of-enough-length", "").unwrap()
}

fn text(asset: &super::Asset) -> &'static str {
    std::str::from_utf8(asset.body).unwrap()
}

#[tokio::test]
async fn the_page_and_every_file_are_served_with_their_type_and_the_security_headers() {
    let client = TestClient::new(app(locked()));
    let mut paths = vec![("/".to_owned(), INDEX.content_type)];
    paths.extend(
        ASSETS
            .iter()
            .map(|asset| (format!("/explorer/{}", asset.name), asset.content_type)),
    );
    for (path, content_type) in paths {
        let response = client.get(&path).send().await;
        // Without a key, though the service requires one for its reads.
        response.assert_status_is_ok();
        response.assert_content_type(content_type);
        response.assert_header("content-security-policy", CONTENT_SECURITY_POLICY);
        response.assert_header("x-content-type-options", "nosniff");
        response.assert_header("x-frame-options", "DENY");
        response.assert_header("referrer-policy", "no-referrer");
    }
}

#[tokio::test]
async fn the_page_is_the_index_file_and_unknown_files_are_404_with_the_same_headers() {
    let client = TestClient::new(app(ApiKeys::default()));
    let response = client.get("/").send().await;
    response.assert_status_is_ok();
    response.assert_text(text(&INDEX)).await;
    let response = client.get("/explorer/../Cargo.toml").send().await;
    response.assert_status(StatusCode::NOT_FOUND);
    let response = client.get("/explorer/nothing.js").send().await;
    response.assert_status(StatusCode::NOT_FOUND);
    response.assert_header("x-content-type-options", "nosniff");
}

#[tokio::test]
async fn the_api_beside_the_page_still_answers_and_still_wants_its_key() {
    let client = TestClient::new(app(locked()));
    client
        .get("/logs")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    let client = TestClient::new(app(ApiKeys::default()));
    let response = client.get("/logs").send().await;
    response.assert_status_is_ok();
    response.assert_content_type("application/json; charset=utf-8");
    client
        .get("/openapi.json")
        .send()
        .await
        .assert_status_is_ok();
}

#[test]
fn the_policy_allows_no_inline_script_or_style_and_no_other_origin() {
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("http"));
}

/// Every `src="..."`, `href="..."` and `from "..."` in the page and our own scripts.
fn references(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["src=\"", "href=\"", "from \"", "from '", "import(\""] {
        let mut rest = source;
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            let end = rest.find(['"', '\'']).unwrap();
            found.push(rest[..end].to_owned());
        }
    }
    found
}

#[test]
fn the_page_and_scripts_refer_only_to_files_that_are_served() {
    let served: Vec<String> = ASSETS
        .iter()
        .map(|asset| format!("/explorer/{}", asset.name))
        .collect();
    let index_references = references(text(&INDEX));
    assert!(
        index_references.contains(&"/explorer/app.js".to_owned()),
        "{index_references:?}"
    );
    for reference in index_references
        .into_iter()
        .filter(|reference| !reference.starts_with("data:"))
    {
        assert!(served.contains(&reference), "index.html: {reference}");
    }
    for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
        for reference in references(text(asset)) {
            let path = reference.strip_prefix("./").unwrap_or(&reference);
            assert!(
                served.contains(&format!("/explorer/{path}")),
                "{} imports {reference}",
                asset.name
            );
        }
    }
}

#[test]
fn our_scripts_never_parse_text_as_html_and_the_page_has_no_inline_script_or_style() {
    let ours = ASSETS
        .iter()
        .filter(|asset| asset.name.ends_with(".js") && !asset.name.starts_with("uPlot"));
    for asset in ours {
        let source = text(asset);
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "http://",
            "https://",
        ] {
            assert!(
                !source.contains(forbidden),
                "{} uses {forbidden}",
                asset.name
            );
        }
    }
    let index = text(&INDEX);
    assert!(!index.contains("<script>"), "inline script in index.html");
    assert!(!index.contains("<style"), "inline style in index.html");
    assert!(!index.contains("style=\""), "style attribute in index.html");
    // ` onclick=`, ` onerror=`: an attribute named on<letters>.
    let handler = index.match_indices(" on").any(|(at, _)| {
        let name: String = index[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        !name.is_empty() && index[at + 3 + name.len()..].starts_with('=')
    });
    assert!(!handler, "an event handler attribute in index.html");
}
