//! Per-station API tokens (`mest_…`): opaque random secrets; only their SHA-256 is stored.
//!
//! Resolved tokens are cached for a few seconds so that a station's event stream costs no extra
//! query per request, while a revocation still takes effect within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{Principal, PrincipalKind, Role};
use crate::error::ApiError;

const PREFIX: &str = "mest_";
pub const CACHE_TTL: Duration = Duration::from_secs(5);

pub fn looks_like(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A new secret token and the parts of it that are stored.
pub struct NewToken {
    pub secret: String,
    pub display_prefix: String,
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("display_prefix", &self.display_prefix)
            .finish_non_exhaustive()
    }
}

pub fn generate() -> NewToken {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewToken {
        display_prefix: secret.chars().take(12).collect(),
        hash: digest(&secret),
        secret,
    }
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[derive(Debug, Default)]
pub struct StationTokens {
    cache: Mutex<HashMap<Vec<u8>, (Principal, Instant)>>,
}

impl StationTokens {
    pub async fn resolve(&self, db: &PgPool, secret: &str) -> Result<Principal, ApiError> {
        let hash = digest(secret);
        if let Some((principal, at)) = self.lock().get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(principal.clone());
        }
        let row: Option<(i32, String)> = sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = now()
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
             RETURNING id, name",
        )
        .bind(&hash)
        .fetch_optional(db)
        .await?;
        let Some((token_id, name)) = row else {
            self.lock().remove(&hash);
            return Err(ApiError::unauthorized(
                "INVALID_TOKEN",
                "the station token is unknown, revoked or expired",
            ));
        };
        let principal = Principal {
            role: Role::Operator,
            kind: PrincipalKind::Station { token_id, name },
        };
        let mut cache = self.lock();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(hash, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    /// Forgets every cached token (after a revocation on this replica).
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Principal, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate();
        let b = generate();
        assert!(looks_like(&a.secret));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, digest(&a.secret));
        assert_eq!(a.hash.len(), 32);
        assert!(a.secret.starts_with(&a.display_prefix));
    }
}
