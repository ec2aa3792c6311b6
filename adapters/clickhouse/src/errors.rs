//! Sorting the `clickhouse` crate's errors into the store's error kinds: retry later
//! (`Unavailable`), the data itself was refused (`Rejected`), or anything else (`Failed`).
//!
//! The server's verdict is the exception code in its answer. The crate hands it over as
//! `Error::BadResponse(text)`, where the text is the server's exception, starting with
//! `Code: NNN` (18.16: `Code: 60, e.displayText() = DB::Exception: ...`; current releases:
//! `Code: 60. DB::Exception: ... (UNKNOWN_TABLE) (version ...)`), or only `Code: NNN` when the body
//! was unreadable, or `503 Service Unavailable` when there was no code and no body.

use std::time::Duration;

use application::ports::StoreError;
use clickhouse::error::Error;

/// What the failed call was doing: the same server code can mean bad data on an insert and a
/// bad query elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Insert,
    Read,
    /// A read of logs for a client: running out of time is reported as such (`TimedOut`), so
    /// the client learns to narrow its query, rather than as an outage.
    Query,
}

/// The kind of a failure, before it is wrapped into a [`StoreError`] with its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Unavailable,
    Rejected,
    Failed,
    TimedOut,
}

/// Server codes of a query that ran out of time: `max_execution_time` passed, or the server
/// estimated that it would.
const TIME_LIMIT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    160, // TOO_SLOW
];

/// Server codes after which the same call may succeed later: overload, time limits, network
/// trouble between servers, and a schema that is not there yet (migrations still to run).
const UNAVAILABLE_CODES: &[u32] = &[
    60,  // UNKNOWN_TABLE
    81,  // UNKNOWN_DATABASE
    95,  // CANNOT_READ_FROM_SOCKET
    96,  // CANNOT_WRITE_TO_SOCKET
    159, // TIMEOUT_EXCEEDED
    160, // TOO_SLOW
    173, // CANNOT_ALLOCATE_MEMORY
    201, // QUOTA_EXPIRED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    216, // QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING (an earlier attempt of the same insert)
    210, // NETWORK_ERROR
    218, // TABLE_IS_DROPPED
    225, // NO_ZOOKEEPER
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    243, // NOT_ENOUGH_SPACE
    244, // UNEXPECTED_ZOOKEEPER_ERROR
    252, // TOO_MANY_PARTS
    279, // ALL_CONNECTION_TRIES_FAILED
    285, // TOO_FEW_LIVE_REPLICAS
    286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    289, // REPLICA_IS_NOT_IN_QUORUM
    319, // UNKNOWN_STATUS_OF_INSERT
    364, // RECEIVED_ERROR_TOO_MANY_REQUESTS
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    439, // CANNOT_SCHEDULE_TASK
    999, // KEEPER_EXCEPTION
];

/// Server codes that, on an insert, mean the rows themselves cannot be stored: parse, type and
/// size errors. Sending the same rows again fails the same way.
const DATA_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    17,  // DELIMITER_IN_STRING_LITERAL_DOESNT_MATCH
    19,  // SIZE_OF_FIXED_STRING_DOESNT_MATCH
    25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    36,  // BAD_ARGUMENTS (18.16: an Enum8 value the column does not know)
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    128, // TOO_LARGE_ARRAY_SIZE
    130, // CANNOT_READ_ARRAY_FROM_TEXT
    131, // TOO_LARGE_STRING_SIZE
    190, // SIZES_OF_ARRAYS_DOESNT_MATCH
    248, // INVALID_PARTITION_VALUE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376, // CANNOT_PARSE_UUID
    395, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a table's own check rejected a row)
    441, // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
    691, // UNKNOWN_ELEMENT_OF_ENUM
];

/// Wraps a failed call into the store's error, keeping the crate's error as the cause.
pub(crate) fn classify(error: Error, operation: Operation) -> StoreError {
    match kind_of(&error, operation) {
        ErrorKind::Unavailable => StoreError::Unavailable(Box::new(error)),
        ErrorKind::Rejected => StoreError::Rejected(Box::new(error)),
        ErrorKind::Failed => StoreError::Failed(Box::new(error)),
        ErrorKind::TimedOut => StoreError::TimedOut(Box::new(error)),
    }
}

/// The one place that decides what a `clickhouse` error means.
pub(crate) fn kind_of(error: &Error, operation: Operation) -> ErrorKind {
    match error {
        Error::TimedOut if operation == Operation::Query => ErrorKind::TimedOut,
        Error::Network(_) | Error::TimedOut => ErrorKind::Unavailable,
        // An I/O error surfacing from the HTTP body stream is a transport failure too.
        Error::Other(source) if source.downcast_ref::<std::io::Error>().is_some() => {
            ErrorKind::Unavailable
        }
        Error::BadResponse(text) => kind_of_response(text, operation),
        _ => ErrorKind::Failed,
    }
}

fn kind_of_response(text: &str, operation: Operation) -> ErrorKind {
    // Code 252 also means a batch spanning more than max_partitions_per_insert_block days: the
    // same rows fail again however long we wait, but smaller batches of them succeed.
    if operation == Operation::Insert && text.contains("partitions for single INSERT block") {
        return ErrorKind::Rejected;
    }
    if let Some(code) = exception_code(text) {
        return if operation == Operation::Query && TIME_LIMIT_CODES.contains(&code) {
            ErrorKind::TimedOut
        } else if UNAVAILABLE_CODES.contains(&code) {
            ErrorKind::Unavailable
        } else if operation == Operation::Insert && DATA_CODES.contains(&code) {
            ErrorKind::Rejected
        } else {
            ErrorKind::Failed
        };
    }
    // No exception code: the answer did not come from ClickHouse itself but, e.g., from a proxy
    // in front of it. A client error (4xx other than 429) will not go away by retrying.
    match http_status(text) {
        Some(status) if (400..500).contains(&status) && status != 429 => ErrorKind::Failed,
        _ => ErrorKind::Unavailable,
    }
}

/// The number after the first `Code:` in a server exception text.
pub(crate) fn exception_code(text: &str) -> Option<u32> {
    let start = text.find("Code:")? + "Code:".len();
    let digits: String = text[start..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The status of a `503 Service Unavailable` style text, which the crate produces for an
/// error answer without body.
fn http_status(text: &str) -> Option<u16> {
    let (number, _) = text.split_once(' ')?;
    (number.len() == 3).then(|| number.parse().ok()).flatten()
}

/// A call that got no answer in time; retrying later may succeed.
#[derive(Debug, thiserror::Error)]
#[error("clickhouse did not answer within {0:?}")]
pub(crate) struct NoAnswerInTime(pub(crate) Duration);

#[cfg(test)]
mod tests {
    use super::*;

    // Answers of ClickHouse 18.16.1 (Debian 12), captured from the server the tests ran on.
    const UNKNOWN_TABLE_18: &str = "Code: 60, e.displayText() = DB::Exception: Table test_28329_1795679157448705293_3.logs doesn't exist., e.what() = DB::Exception";
    const UNKNOWN_DATABASE_18: &str = "Code: 81, e.displayText() = DB::Exception: Database test_28329_1795679157461402935_5 doesn't exist, e.what() = DB::Exception";
    const SYNTAX_ERROR_18: &str = "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1: SELEC 1. Expected one of: SYSTEM query, SELECT subquery, DESC, KILL QUERY, DETACH, DROP, ATTACH, list of elements, ALTER query, DESCRIBE query, DROP query, INSERT query, KILL QUERY query, OPTIMIZE query, Query with output, SHOW PROCESSLIST query, RENAME query, SELECT query, SET query, EXISTS or SHOW CREATE query, USE query, SHOW PROCESSLIST, WITH, ALTER TABLE, CHECK TABLE, CREATE, EXISTS, TRUNCATE, INSERT INTO, SELECT, OPTIMIZE TABLE, RENAME TABLE, SET, SHOW, USE, CREATE TABLE or ATTACH TABLE query, SELECT query, possibly with UNION, SHOW [TEMPORARY] TABLES|DATABASES [[NOT] LIKE 'str'], SELECT query, subquery, possibly with UNION, DESCRIBE, Query, e.what() = DB::Exception";
    const TYPE_MISMATCH_18: &str = "Code: 53, e.displayText() = DB::Exception: Type mismatch in IN or VALUES section. Expected: String. Got: Array, e.what() = DB::Exception";
    const CANNOT_READ_ALL_DATA_18: &str = "Code: 33, e.displayText() = DB::Exception: Cannot read all data. Bytes read: 6. Bytes expected: 8.: (at row 1)\n, e.what() = DB::Exception";
    const WRONG_PASSWORD_18: &str = "Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception";
    const UNKNOWN_USER_18: &str =
        "Code: 192, e.displayText() = DB::Exception: Unknown user nobody, e.what() = DB::Exception";
    const TIMEOUT_18: &str = "Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 1.003999978 seconds, maximum: 1, e.what() = DB::Exception";
    const MEMORY_18: &str = "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 2.00 MiB (attempt to allocate chunk of 4096 bytes), maximum: 976.56 KiB, e.what() = DB::Exception";
    // Current releases' format: `Code: NNN. DB::Exception: ... (NAME)`. The first as reported in
    // ClickHouse/ClickHouse#70822; the others written in the same format.
    const TOO_MANY_PARTS_NEW: &str = "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts. (TOO_MANY_PARTS)";
    const TOO_MANY_QUERIES_NEW: &str = "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES)";
    const ENUM_NEW: &str = "Code: 691. DB::Exception: Unexpected value 3 in enum: (at row 1): While executing BinaryRowInputFormat. (UNKNOWN_ELEMENT_OF_ENUM)";

    fn response(text: &str, operation: Operation) -> ErrorKind {
        kind_of(&Error::BadResponse(text.into()), operation)
    }

    #[test]
    fn the_code_is_read_from_old_and_new_exception_texts_and_from_the_bare_header() {
        assert_eq!(exception_code(UNKNOWN_TABLE_18), Some(60));
        assert_eq!(exception_code(TOO_MANY_PARTS_NEW), Some(252));
        assert_eq!(exception_code("Code: 241"), Some(241));
        assert_eq!(exception_code("503 Service Unavailable"), None);
        assert_eq!(exception_code("Code: none"), None);
    }

    #[test]
    fn overload_timeouts_and_a_missing_schema_are_unavailable_on_any_operation() {
        for text in [
            UNKNOWN_TABLE_18,
            UNKNOWN_DATABASE_18,
            TIMEOUT_18,
            TOO_MANY_PARTS_NEW,
            MEMORY_18,
            TOO_MANY_QUERIES_NEW,
            "Code: 242",
            "Code: 209",
            "Code: 210",
        ] {
            assert_eq!(
                response(text, Operation::Insert),
                ErrorKind::Unavailable,
                "{text}"
            );
            assert_eq!(
                response(text, Operation::Read),
                ErrorKind::Unavailable,
                "{text}"
            );
        }
    }

    #[test]
    fn a_log_query_that_runs_out_of_time_timed_out_while_other_calls_are_unavailable() {
        let too_slow_new = "Code: 160. DB::Exception: Estimated query execution time (12.5 seconds) is too long. Maximum: 10. (TOO_SLOW)";
        for text in [TIMEOUT_18, too_slow_new, "Code: 159"] {
            assert_eq!(
                response(text, Operation::Query),
                ErrorKind::TimedOut,
                "{text}"
            );
            assert_eq!(
                response(text, Operation::Read),
                ErrorKind::Unavailable,
                "{text}"
            );
        }
        assert_eq!(
            kind_of(&Error::TimedOut, Operation::Query),
            ErrorKind::TimedOut
        );
        assert_eq!(
            response(UNKNOWN_TABLE_18, Operation::Query),
            ErrorKind::Unavailable
        );
        assert_eq!(
            response(SYNTAX_ERROR_18, Operation::Query),
            ErrorKind::Failed
        );
        assert!(matches!(
            classify(Error::BadResponse(TIMEOUT_18.into()), Operation::Query),
            StoreError::TimedOut(_)
        ));
    }

    #[test]
    fn data_errors_reject_an_insert_but_fail_a_read() {
        for text in [
            TYPE_MISMATCH_18,
            CANNOT_READ_ALL_DATA_18,
            ENUM_NEW,
            "Code: 6",
            "Code: 131",
        ] {
            assert_eq!(
                response(text, Operation::Insert),
                ErrorKind::Rejected,
                "{text}"
            );
            assert_eq!(response(text, Operation::Read), ErrorKind::Failed, "{text}");
        }
    }

    #[test]
    fn other_server_errors_fail() {
        for text in [SYNTAX_ERROR_18, WRONG_PASSWORD_18, UNKNOWN_USER_18] {
            assert_eq!(
                response(text, Operation::Insert),
                ErrorKind::Failed,
                "{text}"
            );
            assert_eq!(response(text, Operation::Read), ErrorKind::Failed, "{text}");
        }
    }

    #[test]
    fn answers_without_a_code_are_judged_by_their_http_status() {
        assert_eq!(
            response("503 Service Unavailable", Operation::Read),
            ErrorKind::Unavailable
        );
        assert_eq!(
            response("502 Bad Gateway", Operation::Insert),
            ErrorKind::Unavailable
        );
        assert_eq!(
            response("429 Too Many Requests", Operation::Read),
            ErrorKind::Unavailable
        );
        assert_eq!(
            response("404 Not Found", Operation::Read),
            ErrorKind::Failed
        );
        assert_eq!(
            response("<html>bad gateway</html>", Operation::Read),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn transport_errors_are_unavailable_and_decoding_errors_fail() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            kind_of(&Error::Network(Box::new(refused)), Operation::Insert),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind_of(&Error::TimedOut, Operation::Read),
            ErrorKind::Unavailable
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            kind_of(&Error::Other(Box::new(reset)), Operation::Read),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind_of(&Error::NotEnoughData, Operation::Read),
            ErrorKind::Failed
        );
        assert!(matches!(
            classify(
                Error::BadResponse(TYPE_MISMATCH_18.into()),
                Operation::Insert
            ),
            StoreError::Rejected(_)
        ));
    }
}
