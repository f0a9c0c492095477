//! The dashboard's routes: the pages (one HTML shell whose script routes by path), its
//! two assets, the JSON API and the images. Everything else is 404; only GET and HEAD are
//! answered; long URLs are refused before any work; every answer carries headers that keep
//! a page from running anything but its own script.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::api::{self, ApiError, ApiResult};
use super::assets;
use super::images;
use super::query::Query;
use crate::store::Store;

/// Longer URLs are not ones the pages make (a `where` condition is tens of bytes).
const MAX_URI_BYTES: usize = 8 * 1024;

/// The store, read by one request at a time: sled lets one open of a database at a
/// time per process, and each read opens and closes it (as `runner list` does), so
/// that training processes can write between requests.
#[derive(Clone)]
pub struct Reader {
    store: Arc<Mutex<Store>>,
    /// The address served, whose host a request must name (see [`check_host`]).
    address: SocketAddr,
}

impl Reader {
    pub fn new(store: Store, address: SocketAddr) -> Self {
        Self {
            store: Arc::new(Mutex::new(store)),
            address,
        }
    }

    /// Runs `read` on the store off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Store) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            // A request that panicked leaves the store as it was: reads change nothing.
            let store = store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            read(&store)
        })
        .await
        .map_err(|error| ApiError {
            status: 500,
            message: format!("the request failed: {error}"),
        })?
    }
}

pub fn router(reader: Reader) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/runs/{id}", get(run_page))
        .route("/compare", get(page))
        .route("/sweeps", get(page))
        .route("/sweeps/{name}", get(page))
        .route("/assets/{name}", get(asset))
        .route("/api/runs", get(runs))
        .route("/api/facets", get(facets))
        .route("/api/params", get(param_keys))
        .route("/api/runs/{id}", get(run))
        .route("/api/runs/{id}/top_losses/{index}", get(top_loss_image))
        .route("/api/compare", get(compare))
        .route("/api/histories", get(histories))
        .route("/api/sweeps", get(sweeps))
        .route("/api/sweeps/{name}", get(sweep))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(reader.clone(), guard))
        .with_state(reader)
}

/// Refuses what no page asks for before any handler runs: URLs over [`MAX_URI_BYTES`]
/// (414); when serving loopback only, a `Host` that is not a loopback name (421), which is
/// how a page on another site would reach this server through DNS rebinding; and requests
/// a browser says another site made (403: an `<img>` or `fetch` on a page elsewhere).
/// Adds the headers every answer carries.
async fn guard(State(reader): State<Reader>, request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return error_response(
            StatusCode::URI_TOO_LONG,
            &format!("URLs are at most {MAX_URI_BYTES} bytes"),
        );
    }
    if !check_host(&reader.address, request.headers().get(header::HOST)) {
        return error_response(
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard answers only requests addressed to it by a loopback name",
        );
    }
    if request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site == "cross-site")
    {
        return error_response(
            StatusCode::FORBIDDEN,
            "this dashboard answers only its own pages",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether a request may be answered: any `Host` when serving on a non-loopback address
/// (`--host` chose to be reachable), else only `127.0.0.1`, `localhost` or `[::1]`.
fn check_host(address: &SocketAddr, host: Option<&HeaderValue>) -> bool {
    if !address.ip().is_loopback() {
        return true;
    }
    let Some(host) = host.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        assets::INDEX_HTML,
    )
        .into_response()
}

async fn run_page(Path(id): Path<String>) -> Response {
    if is_id_text(&id) {
        page().await
    } else {
        not_found().await
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::asset(&name) {
        Some((content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such page")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "the dashboard only reads: GET (or HEAD)",
    )
}

async fn runs(State(reader): State<Reader>, RawQuery(raw): RawQuery) -> Response {
    let page = reader
        .read(move |store| api::runs(store, &Query::parse(raw.as_deref())))
        .await;
    match page {
        Ok(page) => {
            let mut response = json_response(&page.runs);
            response
                .headers_mut()
                .insert("x-total-count", HeaderValue::from(page.total));
            response
        }
        Err(error) => api_error(&error),
    }
}

async fn facets(State(reader): State<Reader>) -> Response {
    answer(reader.read(api::facets).await)
}

async fn param_keys(State(reader): State<Reader>) -> Response {
    answer(reader.read(api::param_keys).await)
}

async fn run(State(reader): State<Reader>, Path(id): Path<String>) -> Response {
    if !is_id_text(&id) {
        return not_found().await;
    }
    answer(reader.read(move |store| api::run(store, &id)).await)
}

async fn top_loss_image(
    State(reader): State<Reader>,
    Path((id, index)): Path<(String, String)>,
) -> Response {
    let Ok(index) = index.parse::<usize>() else {
        return not_found().await;
    };
    if !is_id_text(&id) {
        return not_found().await;
    }
    match reader
        .read(move |store| images::top_loss_image(store, &id, index))
        .await
    {
        Ok(image) => (
            [(header::CONTENT_TYPE, image.content_type)],
            Body::from(image.bytes),
        )
            .into_response(),
        Err(error) => api_error(&error),
    }
}

async fn compare(State(reader): State<Reader>, RawQuery(raw): RawQuery) -> Response {
    answer(
        reader
            .read(move |store| api::compare_runs(store, &Query::parse(raw.as_deref())))
            .await,
    )
}

async fn histories(State(reader): State<Reader>, RawQuery(raw): RawQuery) -> Response {
    answer(
        reader
            .read(move |store| api::histories(store, &Query::parse(raw.as_deref())))
            .await,
    )
}

async fn sweeps(State(reader): State<Reader>) -> Response {
    answer(reader.read(api::sweeps).await)
}

async fn sweep(State(reader): State<Reader>, Path(name): Path<String>) -> Response {
    answer(reader.read(move |store| api::sweep(store, &name)).await)
}

/// Run ids and the selectors `runner show` takes (`last~2`, a prefix): nothing else
/// reaches the store.
fn is_id_text(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'~')
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(value) => json_response(&value),
        Err(error) => api_error(&error),
    }
}

fn json_response(value: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn api_error(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response(status, &error.message)
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": message }).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_reach_a_loopback_server() {
        let loopback: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        let host = |text: &'static str| HeaderValue::from_static(text);
        assert!(check_host(&loopback, Some(&host("127.0.0.1:8765"))));
        assert!(check_host(&loopback, Some(&host("localhost:8765"))));
        assert!(check_host(&loopback, Some(&host("[::1]:8765"))));
        assert!(!check_host(&loopback, Some(&host("evil.example:8765"))));
        assert!(!check_host(
            &loopback,
            Some(&host("localhost.evil.example"))
        ));
        assert!(!check_host(&loopback, None));
        let public: SocketAddr = "0.0.0.0:8765".parse().unwrap();
        assert!(check_host(&public, Some(&host("runner.lab:8765"))));
    }

    #[test]
    fn ids_are_plain() {
        assert!(is_id_text("20261128-183012-456k3mx7q2p"));
        assert!(is_id_text("last~2"));
        assert!(!is_id_text("../../etc/passwd"));
        assert!(!is_id_text("a%2Fb"));
        assert!(!is_id_text(""));
    }
}
