//! What the tests against a real Redis share: where the server is and keys of their own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The test Redis (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A queue key no other test (or test run) uses, ending in `suffix`.
pub fn unique_key(suffix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default();
    format!(
        "test:{}:{nanos}:{}:{suffix}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
