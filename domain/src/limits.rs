//! Every limit a client can run into, in one place so the documentation can quote it.

/// Longest service name, in characters, after trimming.
pub const SERVICE_MAX_CHARS: usize = 128;
/// Longest message, in bytes of UTF-8.
pub const MESSAGE_MAX_BYTES: usize = 64 * 1024;
/// Most metadata entries on one event.
pub const METADATA_MAX_ENTRIES: usize = 128;
/// Longest metadata key, in characters.
pub const METADATA_KEY_MAX_CHARS: usize = 128;
/// Longest metadata value, in bytes of UTF-8.
pub const METADATA_VALUE_MAX_BYTES: usize = 8 * 1024;
/// How far in the future an event's timestamp may lie, relative to its receive time.
pub const MAX_FUTURE_SKEW_NANOS: u64 = 24 * 60 * 60 * 1_000_000_000;
/// Page size when the client names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page a client may ask for.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Most items in a `service` list of a query.
pub const FILTER_MAX_LIST_ITEMS: usize = 100;
/// Most `metadata.<key>=<value>` conditions in one query.
pub const FILTER_MAX_METADATA_CONDITIONS: usize = 16;
/// Longest `q` text search, in characters.
pub const SEARCH_MAX_CHARS: usize = 1024;
/// Most terms (words or quoted phrases) in one `q`.
pub const SEARCH_MAX_TERMS: usize = 16;
/// Most buckets one histogram may have.
pub const HISTOGRAM_MAX_BUCKETS: u64 = 10_000;
