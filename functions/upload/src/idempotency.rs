//! The `Idempotency-Key` request header.

use lambda_http::http::HeaderMap;
use shared::jsonapi::ErrorSource;
use shared::ApiError;

const MAX_KEY_LEN: usize = 255;

/// The header's value: 1–255 printable ASCII characters, or absent.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid_at(
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            ErrorSource::Header("Idempotency-Key".into()),
        )
    };
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_KEY_LEN
        || !bytes.iter().all(|b| (0x20..0x7f).contains(b))
    {
        return Err(bad());
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "idempotency-key",
            lambda_http::http::HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn keys_are_printable_and_bounded() {
        assert_eq!(idempotency_key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            idempotency_key(&headers(b"ci-run 42/attempt:1"))
                .unwrap()
                .as_deref(),
            Some("ci-run 42/attempt:1")
        );
        assert!(idempotency_key(&headers(&[b'k'; 255])).is_ok());
        assert_eq!(
            idempotency_key(&headers(&[b'k'; 256])).unwrap_err().code(),
            "invalid"
        );
        assert_eq!(
            idempotency_key(&headers(b"")).unwrap_err().code(),
            "invalid"
        );
        assert_eq!(
            idempotency_key(&headers(b"tab\there")).unwrap_err().code(),
            "invalid"
        );
    }
}
