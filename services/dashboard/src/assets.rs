//! The built single-page app: hashed files under `/assets/` are cached for a year
//! (`immutable`: their names change with their content); everything else — `index.html`, the
//! SPA fallback for client-side routes, unhashed files — is revalidated on every load
//! (`no-cache`), so a new release is picked up at the next page load. Files are sent
//! precompressed (`.br`/`.gz` written by the build) or compressed on the fly.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const REVALIDATE: &str = "no-cache";

/// Everything is served from this origin: no CDN, no inline scripts. Inline styles are allowed
/// because the component library sets CSS variables at run time.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; \
     object-src 'none'";

/// Serves `dir` (which must hold `index.html`): hashed assets, other files, and `index.html` for
/// any other path (client-side routes such as `/lots/FN-KR-251109D-001`).
pub fn router(dir: &Path) -> Router {
    let index = dir.join("index.html");
    // No fallback here: a missing chunk is a 404, never the HTML page in its place. The build
    // writes `.br`/`.gz` beside each file; they are sent as they are when the browser takes them.
    let hashed = ServeDir::new(dir.join("assets"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(
            ServeFile::new(index)
                .precompressed_br()
                .precompressed_gzip(),
        );
    Router::new()
        .nest_service("/assets", hashed)
        .fallback_service(files)
        .layer(middleware::from_fn(cache_and_security_headers))
        .layer(CompressionLayer::new())
}

async fn cache_and_security_headers(request: Request, next: Next) -> Response {
    let hashed = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    let cache = if hashed && (status.is_success() || status.as_u16() == 304) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}
