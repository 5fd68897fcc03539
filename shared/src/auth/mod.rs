//! API-key authentication and permissions.
//!
//! A key reads `pk_<prefix>.<secret>`: the prefix (8 characters from an unambiguous
//! alphabet) is the lookup id, the secret (32 random bytes, URL-safe base64) is stored
//! only as its SHA-256 and compared in constant time. Because the secret is 256 random
//! bits, a fast hash is enough: nothing can be guessed offline from it.
//!
//! Handlers call [`Authenticator::authenticate`] with the `Authorization` header, then
//! [`Principal::require`] with the endpoint's [`Permission`], and scope every storage
//! access by [`Principal::tenant_id`]. docs/auth.md describes the whole scheme.

mod authenticator;
mod key;
mod principal;
mod tenant;

pub use authenticator::{cache_ttl, Authenticator, MAX_CACHE_TTL};
pub use key::{
    generate_key, hash_secret, parse_authorization, parse_prefix, ApiKey, GeneratedKey,
    KeyFormatError,
};
pub use principal::{KeyInfo, KeyState, Permission, Principal, StoredKey, LAST_USED_RESOLUTION};
pub use tenant::{validate_tenant_id, InvalidTenantId, MAX_TENANT_ID_LEN};
