//! How Redis failures map onto the queue port's errors, in one place: what may pass by itself
//! (the connection, a timeout, a server that says "not now") is `Unavailable`, so clients get
//! 503 with `Retry-After`; anything else Redis refused is `Failed`.

use application::ports::QueueError;
use redis::RedisError;

/// Error codes a Redis server answers while it cannot serve for a while, all of which clear by
/// themselves: `LOADING` (replaying its append-only file or snapshot after a restart), `BUSY` (a
/// script runs past `busy-reply-threshold`), `TRYAGAIN` (a multi-key operation during
/// resharding), `MASTERDOWN` (a replica that lost its master) and `READONLY` (a write reached a
/// replica, e.g. a former primary right after a failover), `CLUSTERDOWN` (the cluster has no
/// majority or uncovered slots), and `OOM` (Redis reached `maxmemory` under `noeviction`: room
/// comes back as the worker drains the queue).
const NOT_NOW_CODES: [&str; 7] = [
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "READONLY",
    "CLUSTERDOWN",
    "OOM",
];

/// Whether retrying the same call later may succeed without anything being changed.
pub(crate) fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error
            .code()
            .is_some_and(|code| NOT_NOW_CODES.contains(&code))
}

/// The queue port's error for a Redis failure.
pub(crate) fn classify(error: RedisError) -> QueueError {
    if is_transient(&error) {
        QueueError::Unavailable(Box::new(error))
    } else {
        QueueError::Failed(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The error the client makes of a server's error reply, e.g. `-LOADING ...`.
    fn server_reply(line: &str) -> RedisError {
        match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap() {
            redis::Value::ServerError(error) => RedisError::from(error),
            other => panic!("not an error reply: {other:?}"),
        }
    }

    #[test]
    fn every_not_now_answer_of_a_server_is_unavailable() {
        for line in [
            "LOADING Redis is loading the dataset in memory",
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "READONLY You can't write against a read only replica.",
            "CLUSTERDOWN The cluster is down",
            "OOM command not allowed when used memory > 'maxmemory'.",
        ] {
            let error = server_reply(line);
            assert!(
                matches!(classify(error), QueueError::Unavailable(_)),
                "{line}"
            );
        }
    }

    #[test]
    fn answers_that_retrying_will_not_fix_are_failures() {
        for line in [
            "ERR unknown command 'FOO'",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "NOPERM this user has no permissions to run the 'lpush' command",
            "NOSCRIPT No matching script. Please use EVAL.",
        ] {
            let error = server_reply(line);
            assert!(matches!(classify(error), QueueError::Failed(_)), "{line}");
        }
    }

    #[test]
    fn connection_trouble_and_timeouts_are_unavailable() {
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::TimedOut,
        ] {
            let error = RedisError::from(std::io::Error::from(kind));
            assert!(
                matches!(classify(error), QueueError::Unavailable(_)),
                "{kind:?}"
            );
        }
    }
}
