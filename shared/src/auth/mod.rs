//! API-key authentication and permissions.
//!
//! A key reads `pk_<prefix>.<secret>`: the prefix (8 characters from an unambiguous
//! alphabet) is the lookup id, the secret (32 random bytes, URL-safe base64) is stored
//! only as its SHA-256 and compared in constant time. Because the secret is 256 random
//! bits, a fast hash is enough: nothing can be guessed offline from it.

mod authenticator;
mod key;
mod principal;

pub use authenticator::Authenticator;
pub use key::{
    generate_key, hash_secret, parse_authorization, ApiKey, GeneratedKey, KeyFormatError,
};
pub use principal::{Permission, Principal, StoredKey};
