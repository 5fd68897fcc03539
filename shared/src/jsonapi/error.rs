use lambda_http::http::{header, HeaderValue, Response, StatusCode};
use lambda_http::Body;
use serde_json::{json, Value};

use super::json_response;

/// Where in the request an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorSource {
    Pointer(String),
    Parameter(String),
    Header(String),
}

/// Every failure a client can see. Each variant maps to exactly one HTTP status and one
/// stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Invalid {
        detail: String,
        at: Option<ErrorSource>,
    },
    #[error("{0}")]
    NotAuthenticated(String),
    #[error("{0}")]
    AuthenticationFailed(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here")]
    MethodNotAllowed { method: String, allow: Vec<String> },
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{0}")]
    FileTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The service itself failed; the detail never carries internals (they go to the log).
    #[error("the service could not complete the request; it is safe to retry")]
    Internal,
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid {
            detail: detail.into(),
            at: None,
        }
    }

    pub fn invalid_at(detail: impl Into<String>, source: ErrorSource) -> Self {
        Self::Invalid {
            detail: detail.into(),
            at: Some(source),
        }
    }

    pub fn not_found() -> Self {
        Self::NotFound("no resource exists at this path".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::NotAuthenticated(_) | Self::AuthenticationFailed(_) => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::IdempotencyKeyReused(_) => StatusCode::CONFLICT,
            Self::FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::NotAuthenticated(_) => "not_authenticated",
            Self::AuthenticationFailed(_) => "authentication_failed",
            Self::PermissionDenied(_) => "permission_denied",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotAcceptable(_) => "not_acceptable",
            Self::IdempotencyKeyReused(_) => "idempotency_key_reused",
            Self::FileTooLarge(_) => "file_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Internal => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "Invalid request",
            Self::NotAuthenticated(_) => "Authentication credentials were not provided",
            Self::AuthenticationFailed(_) => "Authentication failed",
            Self::PermissionDenied(_) => "Permission denied",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::NotAcceptable(_) => "Not acceptable",
            Self::IdempotencyKeyReused(_) => "Idempotency key reused",
            Self::FileTooLarge(_) => "File too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::Internal => "Internal error",
        }
    }

    /// The JSON:API error document.
    pub fn to_document(&self) -> Value {
        let mut error = json!({
            "status": self.status().as_u16().to_string(),
            "code": self.code(),
            "title": self.title(),
            "detail": self.to_string(),
        });
        if let Self::Invalid {
            at: Some(source), ..
        } = self
        {
            error["source"] = match source {
                ErrorSource::Pointer(p) => json!({ "pointer": p }),
                ErrorSource::Parameter(p) => json!({ "parameter": p }),
                ErrorSource::Header(h) => json!({ "header": h }),
            };
        }
        json!({ "errors": [error], "meta": { "version": "v1" } })
    }

    /// The HTTP response, with the headers some statuses require.
    pub fn to_response(&self) -> Response<Body> {
        let mut response = json_response(self.status(), &self.to_document());
        let headers = response.headers_mut();
        match self {
            Self::NotAuthenticated(_) | Self::AuthenticationFailed(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Api-Key"),
                );
            }
            Self::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_has_status_code_detail_and_source() {
        let err = ApiError::invalid_at(
            "filter[status] must be one of pending, processing, completed, failed",
            ErrorSource::Parameter("filter[status]".into()),
        );
        assert_eq!(
            err.to_document(),
            json!({"errors": [{"status": "400", "code": "invalid", "title": "Invalid request",
                "detail": "filter[status] must be one of pending, processing, completed, failed",
                "source": {"parameter": "filter[status]"}}], "meta": {"version": "v1"}})
        );
    }

    #[test]
    fn auth_errors_carry_www_authenticate_and_405_carries_allow() {
        let r = ApiError::NotAuthenticated("missing".into()).to_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Api-Key");
        let r = ApiError::MethodNotAllowed {
            method: "DELETE".into(),
            allow: vec!["GET".into(), "POST".into()],
        }
        .to_response();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::ALLOW], "GET, POST");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            super::super::CONTENT_TYPE
        );
    }

    #[test]
    fn internal_errors_say_nothing_about_internals() {
        let doc = ApiError::Internal.to_document();
        assert_eq!(doc["errors"][0]["status"], "500");
        assert_eq!(
            doc["errors"][0]["detail"],
            "the service could not complete the request; it is safe to retry"
        );
    }
}
