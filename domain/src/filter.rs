//! What a reader asks for: which logs, in which order, which page.

use std::fmt;
use std::time::Duration;

use crate::limits::{
    DEFAULT_PAGE_LIMIT, EventLimits, FILTER_MAX_LIST_ITEMS, FILTER_MAX_METADATA_CONDITIONS,
    MAX_PAGE_LIMIT, MAX_PAGE_LIMIT_CEILING, Span,
};
use crate::{
    Cursor, FieldCondition, Level, LineCondition, LogEvent, ServiceName, TextSearch, Timestamp,
    TraceId, ValidationError, ValidationReason,
};

/// Number of logs on one page: 1 to the largest page (1000 by default, configurable up to
/// [`MAX_PAGE_LIMIT_CEILING`]), 100 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// Validates a page size against the default largest page ([`MAX_PAGE_LIMIT`]).
    pub fn new(value: u64) -> Result<Self, ValidationError> {
        Self::at_most(value, MAX_PAGE_LIMIT)
    }

    /// Validates a page size of 1 to `max` (capped at [`MAX_PAGE_LIMIT_CEILING`]); the error
    /// quotes that number.
    pub fn at_most(value: u64, max: u32) -> Result<Self, ValidationError> {
        let max = max.clamp(1, MAX_PAGE_LIMIT_CEILING);
        match u32::try_from(value) {
            Ok(limit) if (1..=max).contains(&limit) => Ok(Self(limit)),
            _ => Err(ValidationError::new(
                "limit",
                ValidationReason::OutOfRange(format!("must be between 1 and {max}")),
            )),
        }
    }

    /// The page size when the client names none: [`DEFAULT_PAGE_LIMIT`], or `max` when smaller.
    pub fn default_at_most(max: u32) -> Self {
        Self(DEFAULT_PAGE_LIMIT.min(max.clamp(1, MAX_PAGE_LIMIT_CEILING)))
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_PAGE_LIMIT)
    }
}

/// Order of results by event time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Newest first (the default).
    #[default]
    Descending,
    /// Oldest first.
    Ascending,
}

impl fmt::Display for SortOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SortOrder::Descending => "desc",
            SortOrder::Ascending => "asc",
        })
    }
}

/// A query as a client sent it, before validation: every field is raw text, named like the
/// query parameter it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterDraft {
    /// Services to match (any of them); empty means all.
    pub services: Vec<String>,
    /// Levels to match (any of them); empty means all.
    pub levels: Vec<String>,
    /// `min_level`: this level and the more severe ones.
    pub min_level: Option<String>,
    /// `q`: words and quoted phrases that must all occur in the message, ignoring case.
    pub q: Option<String>,
    /// `metadata.<key>=<value>` parameters as (key, value): each entry must be present with
    /// exactly that value.
    pub metadata: Vec<(String, String)>,
    /// `trace_id`: 32 hex characters.
    pub trace_id: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// Page size, 1 to the largest page (1000 by default).
    pub limit: Option<String>,
    /// Matching logs to skip.
    pub offset: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// A `next_cursor` from an earlier answer: the page after it.
    pub cursor: Option<String>,
    /// Field comparisons (already validated, e.g. parsed from LogQL), at most
    /// [`FILTER_MAX_METADATA_CONDITIONS`].
    pub field_conditions: Vec<FieldCondition>,
    /// Tests on the message (already validated), at most [`FILTER_MAX_METADATA_CONDITIONS`].
    pub line_conditions: Vec<LineCondition>,
}

/// A validated query: all conditions combine with AND; lists match any of their items.
///
/// Results are ordered by `(timestamp, id)` in [`Filter::order`]; the page is [`Filter::limit`]
/// logs after the [`Filter::cursor`] position (if any) and after skipping [`Filter::offset`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    services: Vec<ServiceName>,
    levels: Vec<Level>,
    min_level: Option<Level>,
    text: Option<TextSearch>,
    metadata: Vec<(String, String)>,
    trace_id: Option<TraceId>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Limit,
    offset: u64,
    order: SortOrder,
    cursor: Option<Cursor>,
    field_conditions: Vec<FieldCondition>,
    line_conditions: Vec<LineCondition>,
}

impl Filter {
    /// Validates a draft; the error names the query parameter (`service`, `level`,
    /// `min_level`, `q`, `metadata.<key>`, `trace_id`, `from`, `to`, `limit`, `offset`,
    /// `order`, `cursor`). Blank `min_level`, `q`, `trace_id` and `cursor` mean no condition.
    /// Pages hold at most [`MAX_PAGE_LIMIT`] logs.
    ///
    /// Service names and metadata conditions are checked against the ceilings of event
    /// fields ([`EventLimits::CEILING`]), not the ingestion service's configured limits, so
    /// every value that can be stored can be asked for.
    pub fn from_draft(draft: FilterDraft) -> Result<Self, ValidationError> {
        Self::from_draft_with_max_limit(draft, MAX_PAGE_LIMIT)
    }

    /// Like [`Filter::from_draft`], with pages of at most `max_limit` logs (the configured
    /// largest page, capped at [`MAX_PAGE_LIMIT_CEILING`]); without a `limit` the page holds
    /// [`DEFAULT_PAGE_LIMIT`] logs, or `max_limit` when fewer.
    pub fn from_draft_with_max_limit(
        draft: FilterDraft,
        max_limit: u32,
    ) -> Result<Self, ValidationError> {
        if draft.services.len() > FILTER_MAX_LIST_ITEMS {
            return Err(ValidationError::new(
                "service",
                ValidationReason::TooMany {
                    max: FILTER_MAX_LIST_ITEMS,
                },
            ));
        }
        let services = draft
            .services
            .iter()
            .map(|service| {
                ServiceName::parse_at_most(
                    service,
                    "service",
                    EventLimits::CEILING.service_max_chars(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut levels: Vec<Level> = Vec::new();
        for text in &draft.levels {
            let level = Level::parse(text)?;
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        let min_level = non_blank(draft.min_level.as_deref())
            .map(|text| Level::parse(text).map_err(|error| error.renamed("min_level")))
            .transpose()?;
        let text = match draft.q.as_deref() {
            Some(q) => TextSearch::parse(q)?,
            None => None,
        };
        let metadata = validate_metadata_conditions(draft.metadata)?;
        for (count, field) in [
            (draft.field_conditions.len(), "field conditions"),
            (draft.line_conditions.len(), "line filters"),
        ] {
            if count > FILTER_MAX_METADATA_CONDITIONS {
                return Err(ValidationError::new(
                    field,
                    ValidationReason::TooMany {
                        max: FILTER_MAX_METADATA_CONDITIONS,
                    },
                ));
            }
        }
        let trace_id = non_blank(draft.trace_id.as_deref())
            .map(TraceId::parse)
            .transpose()?;
        let from = draft
            .from
            .as_deref()
            .map(|text| Timestamp::parse_rfc3339(text, "from"))
            .transpose()?;
        let to = draft
            .to
            .as_deref()
            .map(|text| Timestamp::parse_rfc3339(text, "to"))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ValidationError::new(
                "to",
                ValidationReason::OutOfRange("must be later than from".into()),
            ));
        }
        let limit = match draft.limit.as_deref() {
            Some(text) => Limit::at_most(parse_unsigned(text, "limit")?, max_limit)?,
            None => Limit::default_at_most(max_limit),
        };
        let offset = draft
            .offset
            .as_deref()
            .map(|text| parse_unsigned(text, "offset"))
            .transpose()?
            .unwrap_or(0);
        let requested_order = draft.order.as_deref().map(parse_order).transpose()?;
        let cursor = non_blank(draft.cursor.as_deref())
            .map(Cursor::parse)
            .transpose()?;
        let order = match (cursor, requested_order) {
            (Some(cursor), Some(order)) if cursor.order() != order => {
                return Err(ValidationError::new(
                    "cursor",
                    ValidationReason::OutOfRange(format!(
                        "was issued for order={}; send the same order or none",
                        cursor.order()
                    )),
                ));
            }
            (Some(cursor), _) => cursor.order(),
            (None, order) => order.unwrap_or_default(),
        };
        Ok(Self {
            services,
            levels,
            min_level,
            text,
            metadata,
            trace_id,
            from,
            to,
            limit,
            offset,
            order,
            cursor,
            field_conditions: draft.field_conditions,
            line_conditions: draft.line_conditions,
        })
    }

    /// Applies the widest time range one query may cover, measured against `now` where the
    /// range is open: without `from`, the range becomes the `max_range` before `to` (or before
    /// `now`, with no upper bound); with `from`, the span from `from` to `to` (or `now`) must
    /// not exceed `max_range`, else the error names `to` when both bounds were given and
    /// `from` otherwise.
    pub fn within_max_range(
        mut self,
        max_range: Duration,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let max_nanos = u64::try_from(max_range.as_nanos()).unwrap_or(u64::MAX);
        let end = self.to.unwrap_or(now).unix_nanos();
        match self.from {
            None => {
                self.from = Some(Timestamp::from_unix_nanos(end.saturating_sub(max_nanos)));
            }
            Some(from) if end.saturating_sub(from.unix_nanos()) > max_nanos => {
                let span = Span(max_range);
                let (field, reason) = if self.to.is_some() {
                    ("to", format!("must be at most {span} after from"))
                } else {
                    (
                        "from",
                        format!("must be at most {span} before now (or before to)"),
                    )
                };
                return Err(ValidationError::new(
                    field,
                    ValidationReason::OutOfRange(reason),
                ));
            }
            Some(_) => {}
        }
        Ok(self)
    }

    /// The same filter with room for one more log on its page: a store answer that fills it
    /// shows that another page follows.
    pub fn with_extra_row(&self) -> Self {
        Self {
            limit: Limit(self.limit.0 + 1),
            ..self.clone()
        }
    }

    /// The same filter over the part of its time range that also lies in `[from, to)` (either
    /// bound open when `None`): a narrower query whose answers are a subset of this one's.
    pub fn narrowed_to(&self, from: Option<Timestamp>, to: Option<Timestamp>) -> Self {
        Self {
            from: self.from.max(from),
            to: match (self.to, to) {
                (Some(mine), Some(other)) => Some(mine.min(other)),
                (mine, other) => mine.or(other),
            },
            ..self.clone()
        }
    }

    /// The same conditions, read in pages of the largest size in `order`, starting just
    /// after `cursor` (a cursor for the same order) or at the first event.
    pub fn paged(self, order: SortOrder, cursor: Option<Cursor>) -> Self {
        Self {
            order,
            cursor,
            offset: 0,
            limit: Limit(MAX_PAGE_LIMIT),
            ..self
        }
    }

    /// Whether `event` meets every condition. The page (limit, offset, cursor) is not a
    /// condition. Stores must select exactly the events this accepts.
    pub fn matches(&self, event: &LogEvent) -> bool {
        (self.services.is_empty() || self.services.contains(event.service()))
            && self
                .level_set()
                .is_none_or(|levels| levels.contains(&event.level()))
            && self.from.is_none_or(|from| event.timestamp() >= from)
            && self.to.is_none_or(|to| event.timestamp() < to)
            && self.trace_id.is_none_or(|trace| event.trace_id() == trace)
            && self
                .metadata
                .iter()
                .all(|(key, value)| event.metadata().get(key) == Some(value.as_str()))
            && self
                .text
                .as_ref()
                .is_none_or(|text| text.matches(event.message().as_str()))
            && self
                .field_conditions
                .iter()
                .all(|condition| condition.matches(event))
            && self
                .line_conditions
                .iter()
                .all(|condition| condition.matches(event))
    }

    /// Services to match; empty means all.
    pub fn services(&self) -> &[ServiceName] {
        &self.services
    }

    /// Levels listed in `level`, without repeats; empty means all. See also
    /// [`Filter::level_set`], which combines them with `min_level`.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// The least severe level to match.
    pub fn min_level(&self) -> Option<Level> {
        self.min_level
    }

    /// The levels a matching event may have (the listed ones, or all, at `min_level` or
    /// above); `None` when any level matches. May be empty: then nothing matches.
    pub fn level_set(&self) -> Option<Vec<Level>> {
        if self.levels.is_empty() && self.min_level.is_none() {
            return None;
        }
        let candidates = if self.levels.is_empty() {
            Level::ALL.to_vec()
        } else {
            self.levels.clone()
        };
        Some(
            candidates
                .into_iter()
                .filter(|level| self.min_level.is_none_or(|min| *level >= min))
                .collect(),
        )
    }

    /// Text every matching message contains, ignoring case.
    pub fn text(&self) -> Option<&TextSearch> {
        self.text.as_ref()
    }

    /// Metadata entries every matching event has, exactly.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The trace every matching event belongs to.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// Inclusive lower bound of event time.
    pub fn from(&self) -> Option<Timestamp> {
        self.from
    }

    /// Exclusive upper bound of event time.
    pub fn to(&self) -> Option<Timestamp> {
        self.to
    }

    /// Page size.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Number of matching logs to skip before the page starts (after the cursor, if any).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The order of results; a cursor's own order when a cursor was given.
    pub fn order(&self) -> SortOrder {
        self.order
    }

    /// Where the page starts: just after this position.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Field comparisons every matching event meets.
    pub fn field_conditions(&self) -> &[FieldCondition] {
        &self.field_conditions
    }

    /// Tests on the message every matching event meets.
    pub fn line_conditions(&self) -> &[LineCondition] {
        &self.line_conditions
    }
}

fn non_blank(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}

fn parse_order(text: &str) -> Result<SortOrder, ValidationError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "desc" => Ok(SortOrder::Descending),
        "asc" => Ok(SortOrder::Ascending),
        _ => Err(ValidationError::new(
            "order",
            ValidationReason::InvalidFormat("asc or desc"),
        )),
    }
}

/// Checks `metadata.<key>=<value>` conditions with the limits of stored metadata: keys of 1 to
/// [`EventLimits::CEILING`]'s characters without control characters, values of at most its
/// bytes.
fn validate_metadata_conditions(
    conditions: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, ValidationError> {
    if conditions.len() > FILTER_MAX_METADATA_CONDITIONS {
        return Err(ValidationError::new(
            "metadata",
            ValidationReason::TooMany {
                max: FILTER_MAX_METADATA_CONDITIONS,
            },
        ));
    }
    for (key, value) in &conditions {
        if key.is_empty() {
            return Err(ValidationError::new(
                "metadata",
                ValidationReason::InvalidFormat("metadata.<key>=<value> with a non-empty key"),
            ));
        }
        crate::event::check_metadata_entry(key, value, &EventLimits::CEILING)?;
    }
    Ok(conditions)
}

fn parse_unsigned(text: &str, field: &str) -> Result<u64, ValidationError> {
    text.trim().parse::<u64>().map_err(|_| {
        ValidationError::new(
            field,
            ValidationReason::InvalidFormat("a non-negative integer"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_draft_means_all_logs_newest_first_100_per_page() {
        let filter = Filter::from_draft(FilterDraft::default()).unwrap();
        assert_eq!(filter, Filter::default());
        assert_eq!(filter.limit().get(), 100);
        assert_eq!(filter.order(), SortOrder::Descending);
        assert_eq!(filter.offset(), 0);
    }

    #[test]
    fn a_full_draft_is_validated_into_typed_conditions() {
        let filter = Filter::from_draft(FilterDraft {
            services: vec!["auth-service".into()],
            levels: vec!["error".into(), "warning".into()],
            from: Some("2026-05-05T00:00:00Z".into()),
            to: Some("2026-05-05T23:59:59Z".into()),
            limit: Some("50".into()),
            offset: Some("10".into()),
            order: Some("ASC".into()),
            ..FilterDraft::default()
        })
        .unwrap();
        assert_eq!(filter.services()[0].as_str(), "auth-service");
        assert_eq!(filter.levels(), [Level::Error, Level::Warn]);
        assert_eq!(
            filter.from().map(Timestamp::unix_nanos),
            Some(1_777_939_200_000_000_000)
        );
        assert_eq!(
            filter.to().map(Timestamp::unix_nanos),
            Some(1_778_025_599_000_000_000)
        );
        assert_eq!(
            (filter.limit().get(), filter.offset(), filter.order()),
            (50, 10, SortOrder::Ascending)
        );
    }

    #[test]
    fn bad_parameters_are_rejected_naming_the_parameter() {
        let cases: Vec<(&str, FilterDraft)> = vec![
            (
                "limit",
                FilterDraft {
                    limit: Some("0".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "limit",
                FilterDraft {
                    limit: Some("1001".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "limit",
                FilterDraft {
                    limit: Some("-1".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "offset",
                FilterDraft {
                    offset: Some("ten".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "from",
                FilterDraft {
                    from: Some("yesterday".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "to",
                FilterDraft {
                    to: Some("2026-13-01T00:00:00Z".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "level",
                FilterDraft {
                    levels: vec!["LOUD".into()],
                    ..FilterDraft::default()
                },
            ),
            (
                "service",
                FilterDraft {
                    services: vec![String::new()],
                    ..FilterDraft::default()
                },
            ),
            (
                "order",
                FilterDraft {
                    order: Some("sideways".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "to",
                FilterDraft {
                    from: Some("2026-05-05T00:00:00Z".into()),
                    to: Some("2026-05-05T00:00:00Z".into()),
                    ..FilterDraft::default()
                },
            ),
        ];
        for (field, draft) in cases {
            let error = Filter::from_draft(draft.clone()).unwrap_err();
            assert_eq!(error.field(), field, "{draft:?}: {error}");
        }
    }

    #[test]
    fn limits_at_the_edges_are_accepted() {
        assert_eq!(Limit::new(1).map(Limit::get), Ok(1));
        assert_eq!(Limit::new(1000).map(Limit::get), Ok(1000));
    }

    #[test]
    fn a_configured_largest_page_bounds_the_limit_and_the_default_page() {
        let with = |limit: Option<&str>, max| {
            Filter::from_draft_with_max_limit(
                FilterDraft {
                    limit: limit.map(Into::into),
                    ..FilterDraft::default()
                },
                max,
            )
            .map(|filter| filter.limit().get())
            .map_err(|error| error.to_string())
        };
        assert_eq!(with(Some("5"), 5), Ok(5));
        assert_eq!(
            with(Some("6"), 5),
            Err("limit must be between 1 and 5".into())
        );
        assert_eq!(with(None, 5), Ok(5));
        assert_eq!(with(None, 5000), Ok(100));
        assert_eq!(with(Some("5000"), 5000), Ok(5000));
        assert_eq!(
            with(Some("5001"), 5000),
            Err("limit must be between 1 and 5000".into())
        );
        assert_eq!(
            with(Some("10001"), u32::MAX),
            Err("limit must be between 1 and 10000".into())
        );
    }

    #[test]
    fn service_and_metadata_conditions_may_be_as_long_as_any_storable_value() {
        let filter = Filter::from_draft(FilterDraft {
            services: vec!["s".repeat(1024)],
            metadata: vec![("k".repeat(1024), "v".repeat(64 * 1024))],
            ..FilterDraft::default()
        });
        assert!(filter.is_ok(), "{filter:?}");
        let error = Filter::from_draft(FilterDraft {
            services: vec!["s".repeat(1025)],
            ..FilterDraft::default()
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "service must be at most 1024 characters");
    }

    fn sample(service: &str, level: Level, message: &str, seconds: u64) -> LogEvent {
        let draft = crate::LogEventDraft {
            service: service.into(),
            level: level.as_str().into(),
            message: message.into(),
            metadata: [("user_id".to_owned(), "42".to_owned())].into(),
            timestamp: Some(crate::TimestampInput::Integer(i128::from(
                MAY_5 + seconds * 1_000_000_000,
            ))),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: None,
        };
        LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
    }

    const MAY_5: u64 = 1_777_939_200_000_000_000;

    fn draft_filter(draft: FilterDraft) -> Filter {
        Filter::from_draft(draft).unwrap()
    }

    #[test]
    fn the_new_conditions_are_validated_into_typed_values() {
        let filter = draft_filter(FilterDraft {
            min_level: Some("warning".into()),
            q: Some(r#"db "connection failed""#.into()),
            metadata: vec![
                ("user_id".into(), "42".into()),
                ("host".into(), String::new()),
            ],
            trace_id: Some("4BF92F3577B34DA6A3CE929D0E0E4736".into()),
            ..FilterDraft::default()
        });
        assert_eq!(filter.min_level(), Some(Level::Warn));
        assert_eq!(
            filter.text().map(TextSearch::terms),
            Some(&["db".to_owned(), "connection failed".to_owned()][..])
        );
        assert_eq!(filter.metadata()[1], ("host".to_owned(), String::new()));
        assert_eq!(
            filter.trace_id().map(|trace| trace.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn blank_optional_conditions_mean_no_condition() {
        let filter = draft_filter(FilterDraft {
            min_level: Some(" ".into()),
            q: Some("  ".into()),
            trace_id: Some(String::new()),
            cursor: Some(String::new()),
            ..FilterDraft::default()
        });
        assert_eq!(filter, Filter::default());
    }

    #[test]
    fn min_level_keeps_the_listed_levels_at_or_above_it() {
        let only_min = draft_filter(FilterDraft {
            min_level: Some("WARN".into()),
            ..FilterDraft::default()
        });
        assert_eq!(
            only_min.level_set(),
            Some(vec![Level::Warn, Level::Error, Level::Fatal])
        );
        let both = draft_filter(FilterDraft {
            levels: vec!["info".into(), "error".into(), "ERROR".into()],
            min_level: Some("warn".into()),
            ..FilterDraft::default()
        });
        assert_eq!(both.levels(), [Level::Info, Level::Error]);
        assert_eq!(both.level_set(), Some(vec![Level::Error]));
        let none = draft_filter(FilterDraft {
            levels: vec!["info".into()],
            min_level: Some("fatal".into()),
            ..FilterDraft::default()
        });
        assert_eq!(none.level_set(), Some(vec![]));
        assert_eq!(Filter::default().level_set(), None);
    }

    #[test]
    fn a_cursor_sets_the_order_and_a_conflicting_order_is_rejected_naming_cursor() {
        let event = sample("svc", Level::Info, "m", 0);
        let ascending = Cursor::after(&event, SortOrder::Ascending).encode();
        let filter = draft_filter(FilterDraft {
            cursor: Some(ascending.clone()),
            ..FilterDraft::default()
        });
        assert_eq!(filter.order(), SortOrder::Ascending);
        assert_eq!(filter.cursor().map(|c| c.id()), Some(event.id()));
        let same = draft_filter(FilterDraft {
            cursor: Some(ascending.clone()),
            order: Some("asc".into()),
            ..FilterDraft::default()
        });
        assert_eq!(same.order(), SortOrder::Ascending);
        let conflict = Filter::from_draft(FilterDraft {
            cursor: Some(ascending),
            order: Some("desc".into()),
            ..FilterDraft::default()
        })
        .unwrap_err();
        assert_eq!(conflict.field(), "cursor");
        assert_eq!(
            conflict.to_string(),
            "cursor was issued for order=asc; send the same order or none"
        );
    }

    #[test]
    fn bad_new_parameters_are_rejected_naming_the_parameter() {
        let cases: Vec<(&str, FilterDraft)> = vec![
            (
                "min_level",
                FilterDraft {
                    min_level: Some("LOUD".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "q",
                FilterDraft {
                    q: Some(r#""unclosed"#.into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "trace_id",
                FilterDraft {
                    trace_id: Some("' OR 1=1 --".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "cursor",
                FilterDraft {
                    cursor: Some("garbage".into()),
                    ..FilterDraft::default()
                },
            ),
            (
                "metadata",
                FilterDraft {
                    metadata: vec![(String::new(), "x".into())],
                    ..FilterDraft::default()
                },
            ),
            (
                "metadata",
                FilterDraft {
                    metadata: vec![("k".repeat(1025), "x".into())],
                    ..FilterDraft::default()
                },
            ),
            (
                "metadata",
                FilterDraft {
                    metadata: vec![("bell\u{7}".into(), "x".into())],
                    ..FilterDraft::default()
                },
            ),
            (
                "metadata.big",
                FilterDraft {
                    metadata: vec![("big".into(), "v".repeat(64 * 1024 + 1))],
                    ..FilterDraft::default()
                },
            ),
            (
                "metadata",
                FilterDraft {
                    metadata: (0..=FILTER_MAX_METADATA_CONDITIONS)
                        .map(|i| (format!("k{i}"), "v".into()))
                        .collect(),
                    ..FilterDraft::default()
                },
            ),
            (
                "service",
                FilterDraft {
                    services: (0..=FILTER_MAX_LIST_ITEMS)
                        .map(|i| format!("s{i}"))
                        .collect(),
                    ..FilterDraft::default()
                },
            ),
        ];
        for (field, draft) in cases {
            let error = Filter::from_draft(draft.clone()).unwrap_err();
            assert_eq!(error.field(), field, "{error}");
        }
    }

    #[test]
    fn matches_applies_every_condition_with_and() {
        let event = sample(
            "auth",
            Level::Error,
            "DB Connection FAILED after 3 tries",
            10,
        );
        let accepts = |draft: FilterDraft| draft_filter(draft).matches(&event);
        assert!(accepts(FilterDraft::default()));
        assert!(accepts(FilterDraft {
            services: vec!["billing".into(), "auth".into()],
            min_level: Some("warn".into()),
            q: Some(r#"db "connection failed""#.into()),
            metadata: vec![("user_id".into(), "42".into())],
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            from: Some("2026-05-05T00:00:10Z".into()),
            to: Some("2026-05-05T00:00:11Z".into()),
            ..FilterDraft::default()
        }));
        let rejecting = [
            FilterDraft {
                services: vec!["billing".into()],
                ..FilterDraft::default()
            },
            FilterDraft {
                min_level: Some("fatal".into()),
                ..FilterDraft::default()
            },
            FilterDraft {
                levels: vec!["info".into()],
                ..FilterDraft::default()
            },
            FilterDraft {
                q: Some("db refused".into()),
                ..FilterDraft::default()
            },
            FilterDraft {
                metadata: vec![("user_id".into(), "4".into())],
                ..FilterDraft::default()
            },
            FilterDraft {
                metadata: vec![("missing".into(), String::new())],
                ..FilterDraft::default()
            },
            FilterDraft {
                trace_id: Some("0af7651916cd43dd8448eb211c80319c".into()),
                ..FilterDraft::default()
            },
            FilterDraft {
                from: Some("2026-05-05T00:00:11Z".into()),
                ..FilterDraft::default()
            },
            FilterDraft {
                to: Some("2026-05-05T00:00:10Z".into()),
                ..FilterDraft::default()
            },
        ];
        for draft in rejecting {
            assert!(!accepts(draft.clone()), "{draft:?}");
        }
    }

    #[test]
    fn without_from_the_range_becomes_the_widest_allowed_before_to_or_now() {
        let now = Timestamp::parse_rfc3339("2026-05-05T12:00:00Z", "now").unwrap();
        let day = Duration::from_secs(24 * 3600);
        let open = Filter::default().within_max_range(day, now).unwrap();
        assert_eq!(
            open.from().map(Timestamp::to_rfc3339).as_deref(),
            Some("2026-05-04T12:00:00.000000000Z")
        );
        assert_eq!(open.to(), None);
        let before_to = draft_filter(FilterDraft {
            to: Some("2026-05-01T00:00:00Z".into()),
            ..FilterDraft::default()
        })
        .within_max_range(day, now)
        .unwrap();
        assert_eq!(
            before_to.from().map(Timestamp::to_rfc3339).as_deref(),
            Some("2026-04-30T00:00:00.000000000Z")
        );
    }

    #[test]
    fn a_range_wider_than_allowed_is_rejected_naming_from_or_to() {
        let now = Timestamp::parse_rfc3339("2026-05-05T12:00:00Z", "now").unwrap();
        let day = Duration::from_secs(24 * 3600);
        let bounded = |from: &str, to: Option<&str>| {
            draft_filter(FilterDraft {
                from: Some(from.into()),
                to: to.map(Into::into),
                ..FilterDraft::default()
            })
            .within_max_range(day, now)
        };
        assert!(bounded("2026-05-04T12:00:00Z", None).is_ok());
        assert!(bounded("2026-04-01T00:00:00Z", Some("2026-04-02T00:00:00Z")).is_ok());
        let too_early = bounded("2026-05-04T11:59:59Z", None).unwrap_err();
        assert_eq!(too_early.field(), "from");
        assert_eq!(
            too_early.to_string(),
            "from must be at most 24 hours before now (or before to)"
        );
        let too_wide = bounded("2026-04-01T00:00:00Z", Some("2026-04-02T00:00:01Z")).unwrap_err();
        assert_eq!(too_wide.field(), "to");
        assert_eq!(
            too_wide.to_string(),
            "to must be at most 24 hours after from"
        );
    }

    #[test]
    fn narrowing_intersects_the_time_ranges() {
        let at = |text: &str| Timestamp::parse_rfc3339(text, "t").unwrap();
        let filter = draft_filter(FilterDraft {
            from: Some("2026-05-05T10:00:00Z".into()),
            q: Some("x".into()),
            ..FilterDraft::default()
        });
        let narrow = filter.narrowed_to(
            Some(at("2026-05-05T09:00:00Z")),
            Some(at("2026-05-05T11:00:00Z")),
        );
        assert_eq!(narrow.from(), Some(at("2026-05-05T10:00:00Z")));
        assert_eq!(narrow.to(), Some(at("2026-05-05T11:00:00Z")));
        assert_eq!(narrow.text(), filter.text());
        let later = narrow.narrowed_to(Some(at("2026-05-05T10:30:00Z")), None);
        assert_eq!(later.from(), Some(at("2026-05-05T10:30:00Z")));
        assert_eq!(later.to(), Some(at("2026-05-05T11:00:00Z")));
    }

    #[test]
    fn the_extra_row_filter_differs_only_in_its_limit() {
        let filter = draft_filter(FilterDraft {
            limit: Some("1000".into()),
            q: Some("x".into()),
            ..FilterDraft::default()
        });
        let probing = filter.with_extra_row();
        assert_eq!(probing.limit().get(), 1001);
        assert_eq!(probing.text(), filter.text());
    }
}
