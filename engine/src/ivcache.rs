//! Kyverno's image verification cache for ClusterPolicy `verifyImages`.
//!
//! Kyverno 1.19 keeps, per admission controller, a cache of *passed* image
//! verifications keyed by `policyUID;resourceVersion;ruleName;image`, where
//! `image` is the image string of the pod (`registry/path:tag`, or
//! `registry/path@digest`) — the tag, not the digest it resolves to
//! (`pkg/image/verification/cache/client.go:90-91`). A hit passes the rule
//! with "verified from cache" without verifying anything
//! (`pkg/engine/internal/imageverifier.go:83-98`); `mutateDigest` then pins
//! the pod to whatever digest the tag names now (`:116-125`). The cache is on
//! by default with a 60 minute TTL (`cmd/internal/flag.go:166-168`), and
//! `verifyImages[].useCache` (default true) opts a rule out.
//!
//! So a tag re-pushed to an unsigned digest within the TTL of an admission is
//! admitted, and pinned to the unsigned digest. The embedded engine models the
//! cache with the policy's name and a hash of its content standing in for the
//! UID and resourceVersion (a changed policy is a new resourceVersion; the
//! same content re-applied is not), on the scenario's clock.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Kyverno's default TTL (`--imageVerifyCacheTTLDuration`, 60 minutes).
pub const KYVERNO_DEFAULT_TTL_SECONDS: i64 = 3600;

/// A verification cache shared by every evaluation of one admission
/// controller (the embedded backend keeps one across policy re-applies).
#[derive(Debug)]
pub struct VerificationCache {
    ttl_seconds: i64,
    entries: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl VerificationCache {
    /// A cache whose entries expire `ttl_seconds` after they were set.
    pub fn new(ttl_seconds: i64) -> Self {
        VerificationCache {
            ttl_seconds,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Kyverno's Helm-chart default: enabled, 60 minutes.
    pub fn kyverno_default() -> Self {
        Self::new(KYVERNO_DEFAULT_TTL_SECONDS)
    }

    pub(crate) fn key(policy: &str, revision: &str, rule: &str, image: &str) -> String {
        format!("{policy};{revision};{rule};{image}")
    }

    /// Whether `key` was set at most the TTL before `now` (ristretto expires
    /// an entry only once the clock is *after* its expiry). A poisoned lock is
    /// a miss: the image is verified again (fail closed).
    pub(crate) fn get(&self, key: &str, now: DateTime<Utc>) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(key)
            .is_some_and(|set| *set <= now && (now - *set).num_seconds() <= self.ttl_seconds)
    }

    pub(crate) fn set(&self, key: String, now: DateTime<Utc>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, now);
        }
    }

    /// Entries currently held (expired ones included until overwritten).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).expect("in range")
    }

    #[test]
    fn an_entry_lives_for_the_ttl_on_the_given_clock() {
        let c = VerificationCache::new(60);
        let k = VerificationCache::key("p", "r1", "rule", "reg/app:1");
        assert!(!c.get(&k, at(0)));
        c.set(k.clone(), at(100));
        assert!(c.get(&k, at(100)));
        assert!(c.get(&k, at(160)), "still there at exactly the TTL");
        assert!(!c.get(&k, at(161)), "expired after the TTL");
        assert!(!c.get(&k, at(99)), "a clock before the entry never hits");
        let other = VerificationCache::key("p", "r2", "rule", "reg/app:1");
        assert!(!c.get(&other, at(120)), "a new revision is a new key");
    }
}
