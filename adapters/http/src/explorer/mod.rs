//! The log explorer: a page served by the query service at `/` that reads logs through the
//! public query API only (`/logs`, `/logs/histogram`, `/logs/stats`, `/logs/tail`,
//! `/logs/export`). Its files (plain JavaScript modules, CSS and the vendored uPlot chart
//! library, see `THIRD_PARTY.md`) are compiled into the binary: no second server, no Node.js, no
//! request leaves the query service's origin.
//!
//! The page shows untrusted text (log messages), so every answer carries a Content Security
//! Policy that allows scripts and styles only from this origin (no inline script), and the
//! scripts set log text with `textContent` only.

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Path;
use poem::{Endpoint, IntoResponse, Request, Response, Route, get, handler};

/// Where the page lives; its files are under [`ASSETS_PREFIX`].
pub(crate) const PAGE_PATH: &str = "/";
const ASSETS_PREFIX: &str = "/explorer";
const ASSETS_PREFIX_SLASH: &str = "/explorer/";

/// Scripts, styles and requests from this origin only; no plugins, no framing, no form posts,
/// no `<base>` tricks. `'unsafe-inline'` is absent from every directive: an injected `<script>`
/// or `onerror=` attribute would not run even if text ever reached the DOM as markup.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("assets/index.html"),
};

/// Every file under [`ASSETS_PREFIX`], by name.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/api.js"),
    },
    Asset {
        name: "state.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/state.js"),
    },
    Asset {
        name: "table.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/table.js"),
    },
    Asset {
        name: "tail.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/tail.js"),
    },
    Asset {
        name: "key-dialog.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/key-dialog.js"),
    },
    Asset {
        name: "histogram.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/histogram.js"),
    },
    Asset {
        name: "style.css",
        content_type: CSS,
        body: include_bytes!("assets/style.css"),
    },
    Asset {
        name: "uPlot.esm.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("assets/vendor/uPlot.esm.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: CSS,
        body: include_bytes!("assets/vendor/uPlot.min.css"),
    },
];

/// The query service's routes with the page at `/` and its files at `/explorer/<name>` in front.
/// They need no API key: the page holds no data, and asks for a key when the API answers 401.
/// (A wrapper rather than two more routes: the API is nested at `/`, whose catch-all would
/// answer `/` itself.)
pub(crate) fn mount<E: Endpoint>(api: E) -> Explorer<E> {
    Explorer {
        files: Route::new()
            .at(PAGE_PATH, get(page))
            .at(format!("{ASSETS_PREFIX}/:name"), get(file)),
        api,
    }
}

/// The page and its files in front of the API.
pub(crate) struct Explorer<E> {
    files: Route,
    api: E,
}

impl<E: Endpoint> Endpoint for Explorer<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let path = request.uri().path();
        if path == PAGE_PATH || path.starts_with(ASSETS_PREFIX_SLASH) {
            self.files.call(request).await
        } else {
            self.api
                .call(request)
                .await
                .map(IntoResponse::into_response)
        }
    }
}

#[handler]
fn page() -> Response {
    answer(&INDEX)
}

#[handler]
fn file(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => answer(asset),
        None => with_security_headers(
            Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("text/plain; charset=utf-8")
                .body("not found"),
        ),
    }
}

fn answer(asset: &Asset) -> Response {
    with_security_headers(
        Response::builder()
            .content_type(asset.content_type)
            // The files change with the binary and are small: revalidate instead of serving a
            // stale script next to a new page.
            .header(header::CACHE_CONTROL, "no-cache")
            .body(asset.body),
    )
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // For browsers without CSP's frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Query strings hold filters (service names, metadata values): never send them elsewhere.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests;
