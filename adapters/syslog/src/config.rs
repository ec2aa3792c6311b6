//! Settings of the syslog listeners.

use std::net::SocketAddr;
use std::time::Duration;

/// Where the listeners bind and what they accept. A listener without an address is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `SYSLOG_TCP_ADDR`: RFC 6587 framing (octet counting or LF), detected per frame.
    pub tcp_addr: Option<SocketAddr>,
    /// `SYSLOG_UDP_ADDR`: one message per datagram.
    pub udp_addr: Option<SocketAddr>,
    /// `SYSLOG_MAX_FRAME_BYTES`: longest frame (a TCP frame or a datagram); longer ones are
    /// refused, counted and skipped.
    pub max_frame_bytes: usize,
    /// Most events in one queue push (the ingestion service's batch limit).
    pub max_batch_events: usize,
    /// After shutdown is requested, how long pending lines may still be pushed (a queue that is
    /// full or down is retried until then).
    pub shutdown_grace: Duration,
}

/// The default of `SYSLOG_MAX_FRAME_BYTES`: the default message limit (64 KiB) plus room for
/// the header and structured data.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 128 * 1024;

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            tcp_addr: None,
            udp_addr: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_batch_events: 10_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl SyslogConfig {
    /// An address setting: empty means off.
    pub fn parse_addr(variable: &str, value: &str) -> Result<Option<SocketAddr>, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse()
            .map(Some)
            .map_err(|_| format!("{variable}: {value:?} is not an address like 0.0.0.0:514"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_address_is_off_and_a_bad_one_names_the_variable() {
        assert_eq!(SyslogConfig::parse_addr("SYSLOG_TCP_ADDR", " "), Ok(None));
        assert_eq!(
            SyslogConfig::parse_addr("SYSLOG_TCP_ADDR", "127.0.0.1:6514"),
            Ok(Some(SocketAddr::from(([127, 0, 0, 1], 6514))))
        );
        let error = SyslogConfig::parse_addr("SYSLOG_UDP_ADDR", "localhost").unwrap_err();
        assert!(
            error.starts_with("SYSLOG_UDP_ADDR: \"localhost\""),
            "{error}"
        );
    }
}
