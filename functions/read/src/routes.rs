//! Which endpoint a method and path name, per API.md; 404 and 405 otherwise.

use shared::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ingestions,
    Ingestion { id: String },
    IngestionErrors { id: String },
    Findings,
    Finding { uid: String },
}

/// Resolves a request to a read route. Paths that exist but belong to another method
/// answer 405 with the methods they allow.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (route, allow): (Option<Route>, &[&str]) = match segments.as_slice() {
        ["api", "v1", "ingestions"] => (Some(Route::Ingestions), &["GET", "POST"]),
        ["api", "v1", "ingestions", id] => {
            (Some(Route::Ingestion { id: id.to_string() }), &["GET"])
        }
        ["api", "v1", "ingestions", id, "errors"] => (
            Some(Route::IngestionErrors { id: id.to_string() }),
            &["GET"],
        ),
        ["api", "v1", "findings"] => (Some(Route::Findings), &["GET"]),
        ["api", "v1", "findings", uid] => (
            Some(Route::Finding {
                uid: percent_decode(uid),
            }),
            &["GET"],
        ),
        _ => (None, &[]),
    };
    match route {
        None => Err(ApiError::not_found()),
        Some(route) if method == "GET" || method == "HEAD" => Ok(route),
        Some(_) => Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: allow.iter().map(|m| m.to_string()).collect(),
        }),
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve() {
        assert_eq!(
            route("GET", "/api/v1/ingestions").unwrap(),
            Route::Ingestions
        );
        assert_eq!(
            route("GET", "/api/v1/ingestions/abc/").unwrap(),
            Route::Ingestion { id: "abc".into() }
        );
        assert_eq!(
            route("GET", "/api/v1/ingestions/abc/errors").unwrap(),
            Route::IngestionErrors { id: "abc".into() }
        );
        assert_eq!(
            route("GET", "/api/v1/findings/a%2Fb%3Ac").unwrap(),
            Route::Finding {
                uid: "a/b:c".into()
            }
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(route("GET", "/api/v2/x").unwrap_err().code(), "not_found");
        assert_eq!(route("GET", "/").unwrap_err().code(), "not_found");
        match route("DELETE", "/api/v1/ingestions").unwrap_err() {
            ApiError::MethodNotAllowed { allow, .. } => assert_eq!(allow, ["GET", "POST"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            route("POST", "/api/v1/ingestions/x").unwrap_err().code(),
            "method_not_allowed"
        );
    }
}
