//! Push tokens: statuscope's per-application secret, one per service.
//!
//! A token is 24 random base58 characters, shown once when it is made
//! ([`TokenBook::issue`]); only its SHA-256 is kept, in memory and in the
//! store's `tokens` tree. [`TokenBook::verify`] hashes what a client sent
//! and compares the digests in constant time, and does the same work for a
//! service that has no token, so neither the answer nor its timing tells
//! which services exist. Callers: the admin endpoint `/api/tokens/{name}`
//! and statuscope's `POST /signal` (`http::statuscope`). Store writes are
//! synchronous; async callers run them on the blocking pool.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use lovebeat_core::Millis;
use lovebeat_store::{Store, StoreError, TokenRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Characters of a token: base58, as statuscope's `has_secure_token`.
const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Characters in a token (about 140 bits).
pub(crate) const TOKEN_LEN: usize = 24;

type Digest256 = [u8; 32];

/// Why a token could not be made or removed.
#[derive(Debug)]
pub enum TokenError {
    /// The system's random source failed.
    Random(String),
    /// The store refused the write.
    Store(StoreError),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Random(e) => write!(f, "cannot make a random token: {e}"),
            TokenError::Store(e) => write!(f, "cannot save the token: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Every service's token digest; written through to the store, if any.
#[derive(Debug, Default)]
pub struct TokenBook {
    digests: Mutex<HashMap<String, Digest256>>,
    store: Option<Store>,
}

impl TokenBook {
    /// The tokens kept in `store` (none without a store).
    pub fn load(store: Option<Store>) -> Result<TokenBook, StoreError> {
        let mut digests = HashMap::new();
        if let Some(store) = &store {
            for record in store.tokens()? {
                match from_hex(&record.sha256) {
                    Some(digest) => {
                        digests.insert(record.service, digest);
                    }
                    None => tracing::warn!(service = %record.service, "unreadable token digest"),
                }
            }
        }
        Ok(TokenBook {
            digests: Mutex::new(digests),
            store,
        })
    }

    /// Makes a new token for `service`, replacing any it had; returns it.
    /// Blocks on the store's flush.
    pub fn issue(&self, service: &str, now: Millis) -> Result<String, TokenError> {
        let token = random_token()?;
        let digest = digest(&token);
        if let Some(store) = &self.store {
            let record = TokenRecord {
                service: service.to_owned(),
                sha256: hex::encode(digest),
                created: now,
            };
            store.put_token(&record).map_err(TokenError::Store)?;
        }
        self.lock().insert(service.to_owned(), digest);
        Ok(token)
    }

    /// Whether `token` is the token of `service`.
    pub fn verify(&self, service: &str, token: &str) -> bool {
        let sent = digest(token);
        let stored = self.lock().get(service).copied();
        // Compare against something even when there is nothing to compare
        // against, so a missing service costs what a wrong token costs.
        let expected = stored.unwrap_or([0xa5; 32]);
        let equal: bool = sent.ct_eq(&expected).into();
        equal && stored.is_some()
    }

    /// The services that have a token, in name order.
    pub fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// How many services have a token.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no service has a token.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Whether `service` has a token.
    pub fn has(&self, service: &str) -> bool {
        self.lock().contains_key(service)
    }

    /// Forgets the token of `service`; returns whether it had one. Blocks
    /// on the store's flush.
    pub fn remove(&self, service: &str) -> Result<bool, TokenError> {
        if let Some(store) = &self.store {
            store.remove_token(service).map_err(TokenError::Store)?;
        }
        Ok(self.lock().remove(service).is_some())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Digest256>> {
        self.digests
            .lock()
            .expect("no panics while holding the lock")
    }
}

/// [`TOKEN_LEN`] characters of [`ALPHABET`], uniformly: random bytes at
/// or above the largest multiple of 58 are drawn again.
fn random_token() -> Result<String, TokenError> {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut token = String::with_capacity(TOKEN_LEN);
    let mut bytes = [0u8; 64];
    while token.len() < TOKEN_LEN {
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        for &b in bytes.iter().filter(|&&b| b < limit) {
            if token.len() < TOKEN_LEN {
                token.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(token)
}

fn digest(token: &str) -> Digest256 {
    Sha256::digest(token.as_bytes()).into()
}

/// The digest a stored record's hex spells, if it spells one.
fn from_hex(text: &str) -> Option<Digest256> {
    let mut digest = Digest256::default();
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_24_base58_characters_and_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_issued_token_verifies() {
        let book = TokenBook::default();
        let token = book.issue("my_app", 0).unwrap();
        assert!(book.verify("my_app", &token));
        assert!(!book.verify("my_app", "m2x5b6vMdxtatTdGYnqyR8ee"));
        assert!(!book.verify("other_app", &token));
        assert!(!book.verify("my_app", ""));
    }

    #[test]
    fn a_new_token_replaces_the_old_one() {
        let book = TokenBook::default();
        let old = book.issue("a", 0).unwrap();
        let new = book.issue("a", 1).unwrap();
        assert!(!book.verify("a", &old));
        assert!(book.verify("a", &new));
        assert!(book.remove("a").unwrap());
        assert!(!book.verify("a", &new));
        assert!(!book.remove("a").unwrap());
    }

    #[test]
    fn only_the_digest_is_stored_and_it_outlives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let token = TokenBook::load(Some(store.clone()))
            .unwrap()
            .issue("a", 0)
            .unwrap();
        let records = store.tokens().unwrap();
        assert_eq!(records[0].sha256, hex::encode(digest(&token)));
        assert!(!records[0].sha256.contains(&token));
        let book = TokenBook::load(Some(store)).unwrap();
        assert!(book.verify("a", &token));
    }

    #[test]
    fn hex_round_trips() {
        let d = digest("x");
        assert_eq!(from_hex(&hex::encode(d)), Some(d));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&hex::encode([1u8; 31])), None, "too short");
    }
}
