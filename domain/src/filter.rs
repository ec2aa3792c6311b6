//! What a reader asks for: which logs, in which order, which page.

use std::fmt;

use crate::limits::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::{Level, ServiceName, Timestamp, ValidationError, ValidationReason};

/// Number of logs on one page: 1 to 1000, 100 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// Validates a page size.
    pub fn new(value: u64) -> Result<Self, ValidationError> {
        match u32::try_from(value) {
            Ok(limit) if (1..=MAX_PAGE_LIMIT).contains(&limit) => Ok(Self(limit)),
            _ => Err(ValidationError::new(
                "limit",
                ValidationReason::OutOfRange(format!("must be between 1 and {MAX_PAGE_LIMIT}")),
            )),
        }
    }

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
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
}

/// A validated query: all conditions combine with AND; lists match any of their items.
///
/// New conditions (text search, metadata equality, trace id, cursors) are added as further
/// fields with their own accessors, so existing users of the filter are unaffected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    services: Vec<ServiceName>,
    levels: Vec<Level>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Limit,
    offset: u64,
    order: SortOrder,
}

impl Filter {
    /// Validates a draft; the error names the query parameter (`service`, `level`, `from`, `to`,
    /// `limit`, `offset`, `order`).
    pub fn from_draft(draft: FilterDraft) -> Result<Self, ValidationError> {
        let services = draft
            .services
            .iter()
            .map(|service| ServiceName::parse(service, "service"))
            .collect::<Result<Vec<_>, _>>()?;
        let levels = draft
            .levels
            .iter()
            .map(|level| Level::parse(level))
            .collect::<Result<Vec<_>, _>>()?;
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
            Some(text) => Limit::new(parse_unsigned(text, "limit")?)?,
            None => Limit::default(),
        };
        let offset = draft
            .offset
            .as_deref()
            .map(|text| parse_unsigned(text, "offset"))
            .transpose()?
            .unwrap_or(0);
        let order = match draft
            .order
            .as_deref()
            .map(|text| text.trim().to_ascii_lowercase())
        {
            None => SortOrder::default(),
            Some(text) if text == "desc" => SortOrder::Descending,
            Some(text) if text == "asc" => SortOrder::Ascending,
            Some(_) => {
                return Err(ValidationError::new(
                    "order",
                    ValidationReason::InvalidFormat("asc or desc"),
                ));
            }
        };
        Ok(Self {
            services,
            levels,
            from,
            to,
            limit,
            offset,
            order,
        })
    }

    /// Services to match; empty means all.
    pub fn services(&self) -> &[ServiceName] {
        &self.services
    }

    /// Levels to match; empty means all.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Inclusive lower bound of event time.
    pub fn from(&self) -> Option<Timestamp> {
        self.from
    }

    /// Exclusive upper bound of event time.
    pub fn to(&self) -> Option<Timestamp> {
        self.to
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Number of matching logs to skip before the page starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn order(&self) -> SortOrder {
        self.order
    }
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
}
