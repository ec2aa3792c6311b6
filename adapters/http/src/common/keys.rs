//! API keys and their scopes, without any HTTP: parsing the configured keys, hashing them, and
//! deciding whether a presented key may use a service. The poem glue is in [`crate::common::access`].
//!
//! A key is held only as its SHA-256 digest, so configuration may hold digests instead of the
//! keys themselves (`sha256:<64 hex>`), and a presented key is compared with every configured
//! digest in constant time, without stopping at the first match.

use std::fmt;

use crate::common::error_code::ErrorCode;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The prefix that marks a configured entry as the SHA-256 digest of a key rather than a key.
pub const DIGEST_PREFIX: &str = "sha256:";

/// The shortest key accepted in configuration: shorter ones are guessable.
pub const MIN_KEY_CHARS: usize = 16;

/// What a key may be used for: each service requires its own scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The ingestion service: `POST /ingest` and `POST /v1/logs`.
    Ingest,
    /// The query service: `GET /logs` and the other reads.
    Query,
}

impl Scope {
    /// The scope's name in configuration (`ingest:<key>`) and in answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Query => "query",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ingest" => Some(Self::Ingest),
            "query" => Some(Self::Query),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A configured entry that cannot be used. The message never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// A key shorter than [`MIN_KEY_CHARS`].
    #[error("{origin}: a key must have at least {MIN_KEY_CHARS} characters")]
    TooShort { origin: String },
    /// A key with whitespace, control or non-ASCII characters (it could not be sent in a header).
    #[error("{origin}: a key may hold only visible ASCII characters, without spaces")]
    InvalidCharacters { origin: String },
    /// `sha256:` not followed by 64 hex digits.
    #[error("{origin}: after `{DIGEST_PREFIX}` come the 64 hex digits of a SHA-256 digest")]
    InvalidDigest { origin: String },
    /// A key file line that is not `<scope>:<key>` with a known scope.
    #[error("{origin}: expected `ingest:<key>` or `query:<key>` (a key or `sha256:<hex digest>`)")]
    InvalidLine { origin: String },
    /// The key file cannot be read.
    #[error("API_KEYS_FILE {path}: cannot read it: {reason}")]
    File { path: String, reason: String },
}

/// The SHA-256 digest of a key.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyDigest([u8; 32]);

impl KeyDigest {
    fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut digest = [0_u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            *byte = u8::try_from(high << 4 | low).ok()?;
        }
        Some(Self(digest))
    }
}

/// Never prints the digest: logs and panics stay free of key material.
impl fmt::Debug for KeyDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("KeyDigest(..)")
    }
}

/// Why a request may not use a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No key was sent: 401.
    Missing,
    /// The key sent is not a configured one: 401.
    Unknown,
    /// The key is valid but of another scope (a query key on ingestion): 403.
    WrongScope {
        /// The scope the service requires.
        required: Scope,
    },
}

impl Denial {
    /// The error code of the refusal (also its metrics reason): `missing_api_key`,
    /// `invalid_api_key` (401) or `insufficient_scope` (403).
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Missing => ErrorCode::MissingApiKey,
            Self::Unknown => ErrorCode::InvalidApiKey,
            Self::WrongScope { .. } => ErrorCode::InsufficientScope,
        }
    }
}

/// The configured API keys of every scope. Each service needs them all, to tell a key of another
/// scope (403) from an unknown one (401).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(Scope, KeyDigest)>,
}

impl ApiKeys {
    /// No keys: every service runs open.
    pub fn none() -> Self {
        Self::default()
    }

    /// The keys of the services' configuration: `INGEST_API_KEYS` and `QUERY_API_KEYS`
    /// (comma-separated lists, see [`ApiKeys::add_list`]) and the key file `API_KEYS_FILE` (see
    /// [`ApiKeys::add_file`]; an empty path means none).
    pub fn from_config(
        ingest_list: &str,
        query_list: &str,
        key_file: &str,
    ) -> Result<Self, ApiKeyError> {
        let mut keys = Self::none();
        keys.add_list(Scope::Ingest, ingest_list, "INGEST_API_KEYS")?;
        keys.add_list(Scope::Query, query_list, "QUERY_API_KEYS")?;
        if !key_file.trim().is_empty() {
            let contents =
                std::fs::read_to_string(key_file).map_err(|error| ApiKeyError::File {
                    path: key_file.to_owned(),
                    reason: error.to_string(),
                })?;
            keys.add_file(&contents, &format!("API_KEYS_FILE {key_file}"))?;
        }
        Ok(keys)
    }

    /// Adds the keys of a comma-separated list (an environment variable such as
    /// `INGEST_API_KEYS`); each item is a key or `sha256:<hex digest>`, blank items are skipped.
    /// `origin` names the list in errors.
    pub fn add_list(&mut self, scope: Scope, list: &str, origin: &str) -> Result<(), ApiKeyError> {
        for (position, item) in list.split(',').enumerate() {
            let item = item.trim();
            if !item.is_empty() {
                let origin = format!("{origin} item {}", position + 1);
                self.keys.push((scope, parse_entry(item, &origin)?));
            }
        }
        Ok(())
    }

    /// Adds the keys of a key file: one `<scope>:<key>` or `<scope>:sha256:<hex digest>` per
    /// line, `scope` being `ingest` or `query`; blank lines and lines starting with `#` are
    /// skipped. `origin` (the file's path) names the file in errors, with the line number.
    pub fn add_file(&mut self, contents: &str, origin: &str) -> Result<(), ApiKeyError> {
        for (number, line) in contents.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let origin = format!("{origin} line {}", number + 1);
            let (scope, entry) = line
                .split_once(':')
                .and_then(|(scope, entry)| Some((Scope::parse(scope)?, entry.trim())))
                .ok_or_else(|| ApiKeyError::InvalidLine {
                    origin: origin.clone(),
                })?;
            self.keys.push((scope, parse_entry(entry, &origin)?));
        }
        Ok(())
    }

    /// How many keys of `scope` are configured; with none, the service of that scope runs open.
    pub fn count(&self, scope: Scope) -> usize {
        self.keys.iter().filter(|(of, _)| *of == scope).count()
    }

    /// Whether a service requiring `scope` runs open: no key of its scope is configured.
    pub fn is_open(&self, scope: Scope) -> bool {
        !self.keys.iter().any(|(of, _)| *of == scope)
    }

    /// Decides whether a request presenting `key` (if any) may use a service requiring
    /// `required`. A service without keys of its scope lets everyone in. The presented key is
    /// hashed and compared with every configured digest, whatever matched before.
    pub fn authorize(&self, required: Scope, key: Option<&str>) -> Result<(), Denial> {
        if self.is_open(required) {
            return Ok(());
        }
        let Some(key) = key else {
            return Err(Denial::Missing);
        };
        let presented = KeyDigest::of(key);
        let mut in_scope = Choice::from(0);
        let mut in_other_scope = Choice::from(0);
        for (scope, digest) in &self.keys {
            let equal = digest.0.ct_eq(&presented.0);
            if *scope == required {
                in_scope |= equal;
            } else {
                in_other_scope |= equal;
            }
        }
        if bool::from(in_scope) {
            Ok(())
        } else if bool::from(in_other_scope) {
            Err(Denial::WrongScope { required })
        } else {
            Err(Denial::Unknown)
        }
    }
}

/// A key, or `sha256:<hex digest>` of one.
fn parse_entry(entry: &str, origin: &str) -> Result<KeyDigest, ApiKeyError> {
    let origin = || origin.to_owned();
    if let Some(hex) = entry.strip_prefix(DIGEST_PREFIX) {
        return KeyDigest::from_hex(hex)
            .ok_or_else(|| ApiKeyError::InvalidDigest { origin: origin() });
    }
    if !entry.chars().all(|character| character.is_ascii_graphic()) {
        return Err(ApiKeyError::InvalidCharacters { origin: origin() });
    }
    if entry.chars().count() < MIN_KEY_CHARS {
        return Err(ApiKeyError::TooShort { origin: origin() });
    }
    Ok(KeyDigest::of(entry))
}

/// The `sha256:<hex digest>` form of a key, as it may be written in configuration instead of
/// the key itself (operators make it with `sha256sum`; the tests with this).
#[cfg(test)]
pub(crate) fn key_digest_entry(key: &str) -> String {
    let digest = KeyDigest::of(key);
    let hex: String = digest.0.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{DIGEST_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INGEST_KEY: &str = "ingest-key-0123456789";
    const QUERY_KEY: &str = "query-key-0123456789";

    fn keys() -> ApiKeys {
        let mut keys = ApiKeys::none();
        keys.add_list(Scope::Ingest, INGEST_KEY, "INGEST_API_KEYS")
            .unwrap();
        keys.add_list(Scope::Query, QUERY_KEY, "QUERY_API_KEYS")
            .unwrap();
        keys
    }

    #[test]
    fn a_key_of_the_required_scope_is_allowed() {
        assert_eq!(keys().authorize(Scope::Ingest, Some(INGEST_KEY)), Ok(()));
        assert_eq!(keys().authorize(Scope::Query, Some(QUERY_KEY)), Ok(()));
    }

    #[test]
    fn a_missing_key_and_an_unknown_one_are_told_apart() {
        assert_eq!(keys().authorize(Scope::Ingest, None), Err(Denial::Missing));
        assert_eq!(
            keys().authorize(Scope::Ingest, Some("not-a-configured-key")),
            Err(Denial::Unknown)
        );
        assert_eq!(
            keys().authorize(Scope::Ingest, Some("")),
            Err(Denial::Unknown)
        );
    }

    #[test]
    fn a_key_of_another_scope_is_the_wrong_scope_not_unknown() {
        assert_eq!(
            keys().authorize(Scope::Ingest, Some(QUERY_KEY)),
            Err(Denial::WrongScope {
                required: Scope::Ingest
            })
        );
        assert_eq!(
            keys().authorize(Scope::Query, Some(INGEST_KEY)),
            Err(Denial::WrongScope {
                required: Scope::Query
            })
        );
    }

    #[test]
    fn a_key_valid_in_both_scopes_is_allowed_in_both() {
        let mut keys = keys();
        keys.add_list(Scope::Query, INGEST_KEY, "QUERY_API_KEYS")
            .unwrap();
        assert_eq!(keys.authorize(Scope::Query, Some(INGEST_KEY)), Ok(()));
        assert_eq!(keys.authorize(Scope::Ingest, Some(INGEST_KEY)), Ok(()));
    }

    #[test]
    fn a_scope_without_keys_is_open_to_anyone_while_the_other_is_not() {
        let mut keys = ApiKeys::none();
        keys.add_list(Scope::Query, QUERY_KEY, "QUERY_API_KEYS")
            .unwrap();
        assert!(keys.is_open(Scope::Ingest));
        assert!(!keys.is_open(Scope::Query));
        assert_eq!(keys.authorize(Scope::Ingest, None), Ok(()));
        assert_eq!(keys.authorize(Scope::Query, None), Err(Denial::Missing));
        assert!(ApiKeys::none().is_open(Scope::Query));
    }

    #[test]
    fn a_list_holds_several_keys_and_skips_blank_items() {
        let mut keys = ApiKeys::none();
        keys.add_list(
            Scope::Ingest,
            " first-key-0123456789 ,, second-key-0123456789,",
            "INGEST_API_KEYS",
        )
        .unwrap();
        assert_eq!(keys.count(Scope::Ingest), 2);
        assert_eq!(
            keys.authorize(Scope::Ingest, Some("second-key-0123456789")),
            Ok(())
        );
        // A key is matched whole, after trimming the list item, not by prefix or with spaces.
        assert_eq!(
            keys.authorize(Scope::Ingest, Some(" first-key-0123456789")),
            Err(Denial::Unknown)
        );
        assert_eq!(
            keys.authorize(Scope::Ingest, Some("first-key-012345678")),
            Err(Denial::Unknown)
        );
    }

    #[test]
    fn a_configured_digest_admits_the_key_it_was_made_from() {
        let entry = key_digest_entry(INGEST_KEY);
        assert_eq!(entry.len(), DIGEST_PREFIX.len() + 64);
        let mut keys = ApiKeys::none();
        keys.add_list(Scope::Ingest, &entry, "INGEST_API_KEYS")
            .unwrap();
        assert_eq!(keys.authorize(Scope::Ingest, Some(INGEST_KEY)), Ok(()));
        // The digest itself is not a key.
        assert_eq!(
            keys.authorize(Scope::Ingest, Some(&entry)),
            Err(Denial::Unknown)
        );
    }

    #[test]
    fn the_digest_of_a_key_is_its_sha256_in_lowercase_hex() {
        // printf %s abc | sha256sum
        assert_eq!(
            key_digest_entry("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut keys = ApiKeys::none();
        keys.add_list(
            Scope::Query,
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "QUERY_API_KEYS",
        )
        .unwrap();
        assert_eq!(keys.authorize(Scope::Query, Some("abc")), Ok(()));
    }

    #[test]
    fn a_key_file_gives_each_line_its_scope() {
        let file = format!(
            "# keys of the log pipeline\n\
             \n\
             ingest:{INGEST_KEY}\n\
             \x20 QUERY : {}  \n",
            key_digest_entry(QUERY_KEY)
        );
        let mut keys = ApiKeys::none();
        keys.add_file(&file, "/etc/keys").unwrap();
        assert_eq!(keys.count(Scope::Ingest), 1);
        assert_eq!(keys.count(Scope::Query), 1);
        assert_eq!(keys.authorize(Scope::Ingest, Some(INGEST_KEY)), Ok(()));
        assert_eq!(keys.authorize(Scope::Query, Some(QUERY_KEY)), Ok(()));
    }

    #[test]
    fn the_configuration_joins_both_lists_and_the_key_file() {
        let path = std::env::temp_dir().join(format!("api-keys-{}.txt", std::process::id()));
        std::fs::write(
            &path,
            format!("query:{}\n", key_digest_entry("file-query-key-0123456789")),
        )
        .unwrap();
        let keys = ApiKeys::from_config(INGEST_KEY, QUERY_KEY, path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(keys.count(Scope::Ingest), 1);
        assert_eq!(keys.count(Scope::Query), 2);
        assert_eq!(
            keys.authorize(Scope::Query, Some("file-query-key-0123456789")),
            Ok(())
        );

        let none = ApiKeys::from_config("", " ", "").unwrap();
        assert!(none.is_open(Scope::Ingest) && none.is_open(Scope::Query));

        let missing = ApiKeys::from_config("", "", "/nonexistent/api-keys.txt").unwrap_err();
        assert!(matches!(missing, ApiKeyError::File { .. }), "{missing}");
        assert!(
            missing
                .to_string()
                .starts_with("API_KEYS_FILE /nonexistent/api-keys.txt: cannot read it")
        );
    }

    #[test]
    fn bad_entries_are_refused_naming_where_they_are_and_never_the_key() {
        let mut keys = ApiKeys::none();
        let cases = [
            (
                keys.add_list(
                    Scope::Ingest,
                    "long-enough-key-0001,short",
                    "INGEST_API_KEYS",
                ),
                "INGEST_API_KEYS item 2: a key must have at least 16 characters",
            ),
            (
                keys.add_list(Scope::Query, "sha256:abcd", "QUERY_API_KEYS"),
                "QUERY_API_KEYS item 1: after `sha256:` come the 64 hex digits of a SHA-256 digest",
            ),
            (
                keys.add_list(Scope::Query, "key with spaces inside", "QUERY_API_KEYS"),
                "QUERY_API_KEYS item 1: a key may hold only visible ASCII characters, without spaces",
            ),
            (
                keys.add_file(
                    "query:long-enough-key-0001\nadmin:long-enough-key-0002",
                    "keys.txt",
                ),
                "keys.txt line 2: expected `ingest:<key>` or `query:<key>` (a key or `sha256:<hex digest>`)",
            ),
            (
                keys.add_file("long-enough-key-0003", "keys.txt"),
                "keys.txt line 1: expected `ingest:<key>` or `query:<key>` (a key or `sha256:<hex digest>`)",
            ),
        ];
        for (result, message) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.to_string(), message);
        }
        let digest = format!("{:?}", KeyDigest::of(INGEST_KEY));
        assert!(!digest.contains(&key_digest_entry(INGEST_KEY)[7..15]));
    }
}
