//! Loki's request parameters, read as Loki reads them: from the query string and, for `POST`,
//! from a form body (`application/x-www-form-urlencoded`), the first value of a name counting.
//!
//! Times (`start`, `end`, `time`) are nanosecond Unix epochs, Unix seconds (ten digits or
//! fewer), float seconds (`1700000000.5`, read to the millisecond) or RFC 3339 text. Durations
//! (`since`, `step`) are float seconds (`15`, `0.5`) or Prometheus durations (`5m`, `1h30m`,
//! `2000ms`). Defaults are Loki's: `end` now, `start` one hour (`since`) before `end`, `limit`
//! 100, `direction` backward, a step giving about 250 points.

use domain::{SortOrder, Timestamp};
use poem::Request;
use poem::http::Method;
use poem::web::Query as RawQuery;
use poem::{Body, FromRequest};

use crate::loki_query::answer::LokiError;

const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// Loki's default lookback: one hour before `end` (or `time`).
pub(crate) const DEFAULT_SINCE_NANOS: u64 = 3600 * NANOS_PER_SECOND;
/// Loki's default number of log lines.
pub(crate) const DEFAULT_LIMIT: u64 = 100;
/// Loki refuses ranges with more points per series than this.
pub(crate) const MAX_POINTS: u64 = 11_000;
/// Form bodies larger than this are refused (a LogQL query is at most a few kilobytes).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The parameters of one request, in the order sent.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

/// The time range of a range query or a label request: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

/// When a query is evaluated: a range with its step (`query_range`), or one instant (`query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryTimes {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// The resolution of a metric answer; for an instant query, 0.
    pub(crate) step_nanos: u64,
    /// Whether this is an instant query (`/loki/api/v1/query`, evaluated at `end`).
    pub(crate) instant: bool,
}

impl Params {
    /// Reads the query string and, for `POST` with a form body, the form.
    pub(crate) async fn read(request: &Request, body: Body) -> Result<Self, LokiError> {
        let RawQuery(mut pairs) =
            RawQuery::<Vec<(String, String)>>::from_request_without_body(request)
                .await
                .map_err(|error| {
                    LokiError::bad_request(format!("the query string cannot be decoded: {error}"))
                })?;
        let is_form = request.content_type().is_some_and(|content_type| {
            content_type.starts_with("application/x-www-form-urlencoded")
        });
        if request.method() == Method::POST && is_form {
            let bytes = body
                .into_bytes_limit(MAX_FORM_BYTES)
                .await
                .map_err(|error| {
                    LokiError::bad_request(format!("the form body cannot be read: {error}"))
                })?;
            let form: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).map_err(|error| {
                    LokiError::bad_request(format!("the form body cannot be decoded: {error}"))
                })?;
            pairs.extend(form);
        }
        Ok(Self { pairs })
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    /// The first value of `name`, when it is not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// Every non-empty value of `name` (`match[]` may repeat).
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The LogQL query (`query`), required.
    pub(crate) fn query(&self) -> Result<&str, LokiError> {
        self.get("query").ok_or_else(|| {
            LokiError::bad_request("parse error : syntax error: unexpected $end (the query parameter `query` is missing)")
        })
    }

    /// `limit`: a positive number of log lines, 100 by default.
    pub(crate) fn limit(&self) -> Result<u64, LokiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<u64>() {
                Ok(0) => Err(LokiError::parameter(
                    "limit",
                    "limit must be a positive value",
                )),
                Ok(limit) => Ok(limit),
                Err(_) => Err(LokiError::parameter(
                    "limit",
                    format!("cannot parse {text:?}: limit must be a positive whole number"),
                )),
            },
        }
    }

    /// `direction`: `backward` (newest first, the default) or `forward`, in any case.
    pub(crate) fn direction(&self) -> Result<SortOrder, LokiError> {
        match self.get("direction") {
            None => Ok(SortOrder::Descending),
            Some(text) if text.eq_ignore_ascii_case("backward") => Ok(SortOrder::Descending),
            Some(text) if text.eq_ignore_ascii_case("forward") => Ok(SortOrder::Ascending),
            Some(text) => Err(LokiError::parameter(
                "direction",
                format!("invalid direction {text:?}: must be forward or backward"),
            )),
        }
    }

    /// `start`, `end` and `since` as Loki combines them: `end` defaults to now, `start` to
    /// `since` (one hour by default) before `end`; `end` must be after `start`.
    pub(crate) fn range(&self, now: Timestamp) -> Result<TimeRange, LokiError> {
        let end = match self.get("end") {
            Some(text) => parse_time(text, "end")?,
            None => now,
        };
        let since = match self.get("since") {
            Some(text) => parse_duration(text, "since")?,
            None => DEFAULT_SINCE_NANOS,
        };
        let start = match self.get("start") {
            Some(text) => parse_time(text, "start")?,
            None => Timestamp::from_unix_nanos(end.unix_nanos().saturating_sub(since)),
        };
        if end <= start {
            return Err(LokiError::parameter(
                "end",
                "end timestamp must not be before or equal to start time",
            ));
        }
        Ok(TimeRange { start, end })
    }

    /// The range and step of `query_range`. Without `step`, about 250 points (at least one
    /// second apart); at most [`MAX_POINTS`] points.
    pub(crate) fn range_times(&self, now: Timestamp) -> Result<QueryTimes, LokiError> {
        let TimeRange { start, end } = self.range(now)?;
        let span = end.unix_nanos() - start.unix_nanos();
        let step_nanos = match self.get("step") {
            Some(text) => parse_duration(text, "step")?,
            None => (span / NANOS_PER_SECOND / 250).max(1) * NANOS_PER_SECOND,
        };
        if step_nanos == 0 {
            return Err(LokiError::parameter(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive \
                 integer",
            ));
        }
        if span / step_nanos > MAX_POINTS {
            return Err(LokiError::parameter(
                "step",
                "exceeded maximum resolution of 11,000 points per timeseries. Try increasing the \
                 value of the step parameter",
            ));
        }
        Ok(QueryTimes {
            start,
            end,
            step_nanos,
            instant: false,
        })
    }

    /// The instant of `query`: `time`, now by default.
    pub(crate) fn instant_times(&self, now: Timestamp) -> Result<QueryTimes, LokiError> {
        let time = match self.get("time") {
            Some(text) => parse_time(text, "time")?,
            None => now,
        };
        Ok(QueryTimes {
            start: time,
            end: time,
            step_nanos: 0,
            instant: true,
        })
    }
}

/// A Loki time parameter: float seconds when it has a `.`, a Unix epoch in seconds (ten digits
/// or fewer) or nanoseconds when it is a whole number, else RFC 3339.
pub(crate) fn parse_time(text: &str, name: &str) -> Result<Timestamp, LokiError> {
    let invalid = || {
        LokiError::parameter(
            name,
            format!(
                "cannot parse {text:?} to a valid timestamp: send nanoseconds or seconds since \
                 the Unix epoch, or RFC 3339"
            ),
        )
    };
    let before_epoch = || LokiError::parameter(name, format!("{text:?} is before 1970"));
    if text.contains('.')
        && let Ok(seconds) = text.parse::<f64>()
    {
        if !seconds.is_finite() {
            return Err(invalid());
        }
        if seconds < 0.0 {
            return Err(before_epoch());
        }
        // Loki keeps float seconds to the millisecond.
        let millis = (seconds * 1000.0).round();
        if millis >= u64::MAX as f64 / 1e6 {
            return Err(invalid());
        }
        return Ok(Timestamp::from_unix_nanos(millis as u64 * 1_000_000));
    }
    if let Ok(number) = text.parse::<i64>() {
        let digits = text.trim_start_matches(['-', '+']).len();
        let nanos = if digits <= 10 {
            i128::from(number) * i128::from(NANOS_PER_SECOND)
        } else {
            i128::from(number)
        };
        return u64::try_from(nanos)
            .map(Timestamp::from_unix_nanos)
            .map_err(|_| before_epoch());
    }
    Timestamp::parse_rfc3339(text, name).map_err(|_| invalid())
}

/// A Loki duration parameter: float seconds, or a Prometheus duration (`5m`, `1h30m`, `250ms`).
pub(crate) fn parse_duration(text: &str, name: &str) -> Result<u64, LokiError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if (0.0..1e9).contains(&seconds) {
            return Ok((seconds * 1e9).round() as u64);
        }
        if seconds.is_finite() && seconds < 0.0 {
            return Err(LokiError::parameter(
                name,
                "zero or negative query resolution step widths are not accepted. Try a positive \
                 integer",
            ));
        }
    }
    logql::duration_nanos(text).ok_or_else(|| {
        LokiError::parameter(
            name,
            format!(
                "cannot parse {text:?} to a valid duration: send seconds or a duration such as 5m"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> u64 {
        parse_time(text, "start").unwrap().unix_nanos()
    }

    #[test]
    fn times_are_nanoseconds_seconds_float_seconds_or_rfc3339() {
        assert_eq!(nanos("1700000000123456789"), 1_700_000_000_123_456_789);
        assert_eq!(nanos("1700000000"), 1_700_000_000_000_000_000);
        assert_eq!(nanos("4"), 4_000_000_000);
        assert_eq!(nanos("1700000000.5"), 1_700_000_000_500_000_000);
        // Float seconds keep milliseconds, as Loki reads them.
        assert_eq!(nanos("1700000000.1234"), 1_700_000_000_123_000_000);
        assert_eq!(nanos("2023-11-14T22:13:20.25Z"), 1_700_000_000_250_000_000);
        for bad in ["yesterday", "1e9x", "-5", "2023-13-01T00:00:00Z"] {
            let error = parse_time(bad, "start").unwrap_err();
            assert_eq!(error.status().as_u16(), 400, "{bad}");
            assert!(
                error.message().contains("start"),
                "{bad}: {}",
                error.message()
            );
        }
    }

    #[test]
    fn durations_are_float_seconds_or_prometheus_durations() {
        assert_eq!(parse_duration("15", "step").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration("0.5", "step").unwrap(), 500_000_000);
        assert_eq!(parse_duration("2000ms", "step").unwrap(), 2_000_000_000);
        assert_eq!(parse_duration("1h30m", "since").unwrap(), 5_400_000_000_000);
        assert!(parse_duration("fast", "step").is_err());
        assert!(parse_duration("-1", "step").is_err());
    }

    #[test]
    fn the_range_defaults_to_the_hour_before_now_and_since_moves_start() {
        let now = Timestamp::from_unix_nanos(10_000 * NANOS_PER_SECOND);
        let range = Params::default().range(now).unwrap();
        assert_eq!(range.end, now);
        assert_eq!(range.start.unix_nanos(), (10_000 - 3600) * NANOS_PER_SECOND);
        let since = Params::from_pairs(&[("since", "5m"), ("end", "9000")])
            .range(now)
            .unwrap();
        assert_eq!(since.start.unix_nanos(), (9000 - 300) * NANOS_PER_SECOND);
        let start_wins = Params::from_pairs(&[("since", "5m"), ("start", "100")])
            .range(now)
            .unwrap();
        assert_eq!(start_wins.start.unix_nanos(), 100 * NANOS_PER_SECOND);
        let error = Params::from_pairs(&[("start", "200"), ("end", "100")])
            .range(now)
            .unwrap_err();
        assert!(error.message().contains("end timestamp must not be before"));
    }

    #[test]
    fn the_step_defaults_to_250_points_and_is_bounded() {
        let now = Timestamp::from_unix_nanos(100_000 * NANOS_PER_SECOND);
        let day = Params::from_pairs(&[("start", "0"), ("end", "86400")]);
        assert_eq!(
            day.range_times(now).unwrap().step_nanos,
            345 * NANOS_PER_SECOND
        );
        let short = Params::from_pairs(&[("start", "0"), ("end", "10")]);
        assert_eq!(short.range_times(now).unwrap().step_nanos, NANOS_PER_SECOND);
        let too_fine = Params::from_pairs(&[("start", "0"), ("end", "86400"), ("step", "1")]);
        assert!(
            too_fine
                .range_times(now)
                .unwrap_err()
                .message()
                .contains("11,000")
        );
        let zero = Params::from_pairs(&[("start", "0"), ("end", "10"), ("step", "0")]);
        assert!(
            zero.range_times(now)
                .unwrap_err()
                .message()
                .contains("step")
        );
    }

    #[test]
    fn limit_and_direction_follow_loki() {
        assert_eq!(Params::default().limit().unwrap(), 100);
        assert_eq!(Params::from_pairs(&[("limit", "5")]).limit().unwrap(), 5);
        assert!(Params::from_pairs(&[("limit", "0")]).limit().is_err());
        assert!(Params::from_pairs(&[("limit", "-3")]).limit().is_err());
        assert_eq!(
            Params::from_pairs(&[("direction", "FORWARD")])
                .direction()
                .unwrap(),
            SortOrder::Ascending
        );
        assert_eq!(
            Params::default().direction().unwrap(),
            SortOrder::Descending
        );
        assert!(
            Params::from_pairs(&[("direction", "up")])
                .direction()
                .is_err()
        );
        assert_eq!(
            Params::from_pairs(&[
                ("match[]", "{a=\"1\"}"),
                ("match[]", ""),
                ("match[]", "{b=\"2\"}")
            ])
            .all("match[]"),
            ["{a=\"1\"}", "{b=\"2\"}"]
        );
    }
}
