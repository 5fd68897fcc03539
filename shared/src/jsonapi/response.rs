use lambda_http::http::{header, HeaderValue, Response, StatusCode};
use lambda_http::Body;
use serde_json::{json, Value};

/// The media type of every response body.
pub const CONTENT_TYPE: &str = "application/vnd.api+json";

/// Wraps primary data into a document carrying the API version in `meta`.
pub fn document(data: Value) -> Value {
    json!({ "data": data, "meta": { "version": "v1" } })
}

/// A JSON:API response with the given status and document.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
