use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Characters of a key prefix: digits and capitals without 0, 1, I, L, O, U.
pub const PREFIX_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const PREFIX_LEN: usize = 8;
const SECRET_BYTES: usize = 32;

/// A key as a client presents it, split into its lookup prefix and secret. Its `Debug`
/// shows the prefix only, so a stray `?key` in a log line cannot leak the secret.
#[derive(PartialEq, Eq)]
pub struct ApiKey<'a> {
    pub prefix: &'a str,
    pub secret: &'a str,
}

impl std::fmt::Debug for ApiKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.prefix)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the Authorization header is missing; send \"Authorization: Api-Key <key>\"")]
    Missing,
    #[error("the Authorization header must read \"Api-Key <key>\"")]
    WrongScheme,
    #[error("the API key is malformed; keys look like pk_XXXXXXXX.<secret>")]
    Malformed,
}

/// Parses an `Authorization` header value into a key.
pub fn parse_authorization(header: Option<&str>) -> Result<ApiKey<'_>, KeyFormatError> {
    let header = header.ok_or(KeyFormatError::Missing)?.trim();
    let (scheme, key) = header.split_once(' ').ok_or(KeyFormatError::WrongScheme)?;
    if !scheme.eq_ignore_ascii_case("Api-Key") {
        return Err(KeyFormatError::WrongScheme);
    }
    let (prefix, secret) = key
        .trim()
        .strip_prefix("pk_")
        .and_then(|rest| rest.split_once('.'))
        .ok_or(KeyFormatError::Malformed)?;
    let prefix_ok = is_prefix(prefix);
    let secret_ok = secret.len() >= 43
        && secret.len() <= 512
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !prefix_ok || !secret_ok {
        return Err(KeyFormatError::Malformed);
    }
    Ok(ApiKey { prefix, secret })
}

fn is_prefix(s: &str) -> bool {
    s.len() == PREFIX_LEN && s.bytes().all(|b| PREFIX_ALPHABET.contains(&b))
}

/// The prefix an operator names a key by: `ABCDEFGH`, `pk_ABCDEFGH`, or a whole key
/// (`pk_ABCDEFGH.<secret>`, e.g. one that leaked and must be revoked).
pub fn parse_prefix(s: &str) -> Option<&str> {
    let s = s.trim();
    let s = s.strip_prefix("pk_").unwrap_or(s);
    let prefix = s.split_once('.').map_or(s, |(prefix, _)| prefix);
    is_prefix(prefix).then_some(prefix)
}

/// Hex SHA-256 of a secret: the only form in which a secret is stored.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A freshly generated key: the full key is shown once, only the hash is kept.
pub struct GeneratedKey {
    pub prefix: String,
    pub full_key: String,
    pub secret_hash: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("prefix", &self.prefix)
            .field("full_key", &"<redacted>")
            .finish()
    }
}

pub fn generate_key() -> GeneratedKey {
    let mut rng = rand::rng();
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| PREFIX_ALPHABET[rng.random_range(0..PREFIX_ALPHABET.len())] as char)
        .collect();
    let mut secret_bytes = [0u8; SECRET_BYTES];
    rng.fill(&mut secret_bytes);
    let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
    GeneratedKey {
        full_key: format!("pk_{prefix}.{secret}"),
        secret_hash: hash_secret(&secret),
        prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_hash_to_what_is_stored() {
        let key = generate_key();
        let header = format!("Api-Key {}", key.full_key);
        let parsed = parse_authorization(Some(&header)).unwrap();
        assert_eq!(parsed.prefix, key.prefix);
        assert_eq!(hash_secret(parsed.secret), key.secret_hash);
        assert_eq!(parsed.secret.len(), 43);
    }

    #[test]
    fn operators_may_name_a_key_by_prefix_or_whole_key() {
        let key = generate_key();
        assert_eq!(parse_prefix(&key.prefix), Some(key.prefix.as_str()));
        assert_eq!(
            parse_prefix(&format!("pk_{}", key.prefix)),
            Some(key.prefix.as_str())
        );
        assert_eq!(parse_prefix(&key.full_key), Some(key.prefix.as_str()));
        assert_eq!(parse_prefix("pk_ABCDEFG"), None);
        assert_eq!(parse_prefix("abcdefgh"), None);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = generate_key();
        let header = format!("Api-Key {}", key.full_key);
        let parsed = parse_authorization(Some(&header)).unwrap();
        let secret = parsed.secret.to_string();
        for shown in [format!("{parsed:?}"), format!("{key:?}")] {
            assert!(!shown.contains(&secret), "{shown}");
            assert!(shown.contains(&key.prefix), "{shown}");
        }
    }

    #[test]
    fn malformed_headers_are_told_apart() {
        assert_eq!(parse_authorization(None), Err(KeyFormatError::Missing));
        assert_eq!(
            parse_authorization(Some("Bearer abc")),
            Err(KeyFormatError::WrongScheme)
        );
        assert_eq!(
            parse_authorization(Some("Api-Key")),
            Err(KeyFormatError::WrongScheme)
        );
        let secret = "a".repeat(43);
        for bad in [
            format!("Api-Key pk_ABCDEFG.{secret}"),  // short prefix
            format!("Api-Key pk_ABCDEFGO.{secret}"), // O is not in the alphabet
            format!("Api-Key ABCDEFGH.{secret}"),    // no pk_
            "Api-Key pk_ABCDEFGH.short".to_string(),
            format!("Api-Key pk_ABCDEFGH.{}", "a/".repeat(30)),
        ] {
            assert_eq!(
                parse_authorization(Some(&bad)),
                Err(KeyFormatError::Malformed),
                "{bad}"
            );
        }
    }
}
