//! A local stand-in for API Gateway HTTP API: it turns each request into a payload 2.0
//! event (binary bodies base64-encoded), enforces the same size limits, picks the
//! function by the template's routes and hands the event to that function's handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use super::template::Route;

/// API Gateway HTTP API's largest request payload.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Lambda's largest synchronous invocation event.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

pub type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, lambda_http::Error>> + Send>>;
/// A function's HTTP handler, as `lambda_http::run` would call it.
pub type HttpHandler = Arc<dyn Fn(Request) -> HandlerFuture + Send + Sync>;

pub struct Gateway {
    routes: Vec<(Route, HttpHandler)>,
}

impl Gateway {
    pub fn new(routes: Vec<(Route, HttpHandler)>) -> Arc<Self> {
        Arc::new(Self { routes })
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new().fallback(handle).with_state(self);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }

    /// The route API Gateway would choose: an exact path beats one with parameters, and
    /// `$default` takes whatever nothing else matched.
    fn select(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&Route, &HttpHandler, Map<String, Value>)> {
        let mut best: Option<(&Route, &HttpHandler, Map<String, Value>, usize)> = None;
        for (route, handler) in &self.routes {
            if route.path == "$default" || (route.method != "ANY" && route.method != method) {
                continue;
            }
            if let Some((params, literal)) = match_path(&route.path, path) {
                if best.as_ref().is_none_or(|b| literal > b.3) {
                    best = Some((route, handler, params, literal));
                }
            }
        }
        best.map(|(r, h, p, _)| (r, h, p)).or_else(|| {
            self.routes
                .iter()
                .find(|(r, _)| r.path == "$default")
                .map(|(r, h)| (r, h, Map::new()))
        })
    }
}

/// Matches `/a/{id}/b` against a path: the parameters and how many literal segments matched.
fn match_path(pattern: &str, path: &str) -> Option<(Map<String, Value>, usize)> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = Map::new();
    let mut literal = 0;
    for (i, part) in pattern.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            params.insert(name.into(), Value::String(actual.get(i..)?.join("/")));
            return Some((params, literal));
        }
        let value = actual.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if value.is_empty() {
                return None;
            }
            params.insert(name.into(), Value::String(value.to_string()));
        } else if part == value {
            literal += 1;
        } else {
            return None;
        }
    }
    (pattern.len() == actual.len()).then_some((params, literal))
}

fn gateway_error(status: StatusCode, message: &str) -> AxumResponse {
    AxumResponse::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(AxumBody::from(json!({ "message": message }).to_string()))
        .unwrap_or_default()
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: AxumRequest) -> AxumResponse {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let Some((route, handler, params)) = gateway.select(&method, &path) else {
        return gateway_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let source_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let route_key = if route.path == "$default" {
        "$default".to_string()
    } else {
        format!("{} {}", route.method, route.path)
    };
    let event = payload_v2(&parts, &body, &route_key, params, &source_ip);
    let event_json = event.to_string();
    if event_json.len() > MAX_EVENT_BYTES {
        // Lambda refuses the invocation; API Gateway reports it as too large.
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let request = match lambda_http::request::from_str(&event_json) {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "could not build the Lambda event");
            return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    match handler(request).await {
        Ok(response) => into_axum(response),
        Err(e) => {
            tracing::error!(error = %e, function = %route.function, "function failed");
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The payload format 2.0 event for a request.
fn payload_v2(
    parts: &http::request::Parts,
    body: &[u8],
    route_key: &str,
    path_parameters: Map<String, Value>,
    source_ip: &str,
) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode_component(k), decode_component(v));
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let (headers, cookies) = headers_v2(&parts.headers);
    let text = is_text(&parts.headers) && std::str::from_utf8(body).is_ok();
    let (body_value, encoded) = if body.is_empty() {
        (Value::Null, false)
    } else if text {
        (
            Value::String(String::from_utf8_lossy(body).into_owned()),
            false,
        )
    } else {
        (Value::String(BASE64.encode(body)), true)
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid_like(now),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(path_parameters);
    }
    if !body_value.is_null() {
        event["body"] = body_value;
    }
    event
}

/// Header names lower-cased, repeated headers joined by commas, cookies apart.
fn headers_v2(headers: &HeaderMap) -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()));
            continue;
        }
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    (out, cookies)
}

/// Whether API Gateway passes the body as text (otherwise it base64-encodes it).
fn is_text(headers: &HeaderMap) -> bool {
    if headers.contains_key(http::header::CONTENT_ENCODING) {
        return false;
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.starts_with("text/")
        || mime == "application/json"
        || mime.ends_with("+json")
        || mime == "application/xml"
        || mime == "application/x-www-form-urlencoded"
        || mime == "application/javascript"
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn uuid_like(now: time::OffsetDateTime) -> String {
    format!("{:x}-local", now.unix_timestamp_nanos())
}

fn into_axum(response: Response<Body>) -> AxumResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_parameters_and_literal_priority() {
        let (p, lit) = match_path("/api/v1/ingestions/{id}", "/api/v1/ingestions/abc").unwrap();
        assert_eq!(p["id"], "abc");
        assert_eq!(lit, 3);
        assert!(match_path("/api/v1/ingestions/{id}", "/api/v1/ingestions").is_none());
        assert!(match_path("/api/v1/ingestions/{id}", "/api/v1/ingestions/a/errors").is_none());
        let (p, _) = match_path("/files/{proxy+}", "/files/a/b").unwrap();
        assert_eq!(p["proxy"], "a/b");
    }

    #[test]
    fn json_is_text_and_multipart_is_binary() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_text(&h));
        h.insert(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=x".parse().unwrap(),
        );
        assert!(!is_text(&h));
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        h.insert(http::header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert!(!is_text(&h));
    }

    #[test]
    fn query_components_are_decoded() {
        assert_eq!(decode_component("filter%5Bstatus%5D"), "filter[status]");
        assert_eq!(decode_component("a+b%2C"), "a b,");
    }
}
