//! What the supported constructs parse into: domain conditions and metric descriptions.

#![allow(clippy::unwrap_used)]

use domain::{
    Anchoring, FieldCondition, FieldName, FieldOp, LineCondition, LineParser, ParsedLabel, Pattern,
};
use logql::{
    Aggregation, AggregationOperator, MetricQuery, Query, RangeFunction, Selection, parse,
};

fn field(name: FieldName, op: FieldOp, value: &str) -> FieldCondition {
    FieldCondition::new(name, op, value).unwrap()
}

fn metadata(key: &str) -> FieldName {
    FieldName::Metadata(key.to_owned())
}

#[test]
fn a_log_query_becomes_field_and_line_conditions_in_order() {
    let query = r#"{service="auth", level=~"ERROR|WARN", user_id!=""} |= "timeout" != `retry` |~ "(?i)db" !~ "x+" | took > 10.5 and region="eu", code==200 | drop __error__"#;

    let Query::Logs(selection) = parse(query).unwrap() else {
        panic!("not a log query");
    };

    assert_eq!(
        selection.fields,
        [
            field(FieldName::Service, FieldOp::Equal, "auth"),
            field(FieldName::Level, FieldOp::Matches, "ERROR|WARN"),
            field(metadata("user_id"), FieldOp::NotEqual, ""),
            field(metadata("took"), FieldOp::Greater, "10.5"),
            field(metadata("region"), FieldOp::Equal, "eu"),
            field(metadata("code"), FieldOp::GreaterOrEqual, "200"),
            field(metadata("code"), FieldOp::LessOrEqual, "200"),
        ]
    );
    assert_eq!(
        selection.lines,
        [
            LineCondition::Contains("timeout".into()),
            LineCondition::NotContains("retry".into()),
            LineCondition::Matches(Pattern::new("(?i)db", Anchoring::AnyPart, "l").unwrap()),
            LineCondition::NotMatches(Pattern::new("x+", Anchoring::AnyPart, "l").unwrap()),
        ]
    );
    // Label expressions match whole values, as Loki anchors them.
    assert_eq!(
        selection.fields[1].pattern().unwrap().anchoring(),
        Anchoring::WholeValue
    );
}

#[test]
fn metric_queries_describe_function_range_and_grouping() {
    let selection = Selection {
        fields: vec![field(FieldName::Service, FieldOp::Equal, "auth")],
        lines: vec![LineCondition::Contains("error".into())],
        parser: None,
    };
    for (query, function, aggregation) in [
        (
            r#"count_over_time({service="auth"} |= "error" [5m])"#,
            RangeFunction::CountOverTime,
            None,
        ),
        (
            r#"sum by (level, user_id) (rate({service="auth"} |= "error" [5m]))"#,
            RangeFunction::Rate,
            Some((AggregationOperator::Sum, vec!["level", "user_id"])),
        ),
        (
            r#"count(bytes_over_time({service="auth"} |= "error" [5m])) by (service)"#,
            RangeFunction::BytesOverTime,
            Some((AggregationOperator::Count, vec!["service"])),
        ),
        (
            r#"sum(bytes_rate({service="auth"} |= "error" [5m]))"#,
            RangeFunction::BytesRate,
            Some((AggregationOperator::Sum, vec![])),
        ),
    ] {
        assert_eq!(
            parse(query).unwrap(),
            Query::Metric(MetricQuery {
                function,
                range_nanos: 300_000_000_000,
                selection: selection.clone(),
                aggregation: aggregation.map(|(operator, by)| Aggregation {
                    operator,
                    by: by.into_iter().map(str::to_owned).collect(),
                }),
            }),
            "{query}"
        );
    }
}

#[test]
fn grafanas_health_check_is_a_constant() {
    assert_eq!(parse("vector(1)+vector(1)").unwrap(), Query::Constant(2.0));
    assert_eq!(
        parse("vector(2) * vector(3) - vector(1)").unwrap(),
        Query::Constant(5.0)
    );
}

#[test]
fn durations_add_their_parts() {
    assert_eq!(logql::duration_nanos("1h30m"), Some(5_400_000_000_000));
    assert_eq!(logql::duration_nanos("250ms"), Some(250_000_000));
    assert_eq!(logql::duration_nanos("5x"), None);
    assert_eq!(logql::duration_nanos(""), None);
}

#[test]
fn errors_say_where_and_what() {
    let error = parse(r#"{app="x"} |= 42"#).unwrap_err();
    assert_eq!(
        error.message,
        "parse error at line 1, col 14: unexpected the number 42, expected a string"
    );
    assert!(!error.unsupported);
    let error = parse(r#"{app="x"} | json status="response.code""#).unwrap_err();
    assert!(error.unsupported);
    assert!(
        error
            .message
            .starts_with("unsupported LogQL: `| json` with parameters"),
        "{}",
        error.message
    );
    let error = parse(r#"{app="x"} | json | logfmt"#).unwrap_err();
    assert!(error.unsupported);
    assert!(
        error.message.contains("a second parser stage"),
        "{}",
        error.message
    );
}

fn parsed(parser: LineParser, key: &str) -> FieldName {
    FieldName::Parsed(ParsedLabel::new(parser, key).unwrap())
}

#[test]
fn labels_after_a_parser_stage_are_read_from_the_message() {
    let query =
        r#"{app="x"} | region="eu" | json | status >= 500, level="ERROR" | path=~"/api/.*""#;

    let Query::Logs(selection) = parse(query).unwrap() else {
        panic!("not a log query");
    };

    assert_eq!(selection.parser, Some(LineParser::Json));
    assert_eq!(
        selection.fields,
        [
            field(metadata("app"), FieldOp::Equal, "x"),
            // Before the parser: metadata only.
            field(metadata("region"), FieldOp::Equal, "eu"),
            field(
                parsed(LineParser::Json, "status"),
                FieldOp::GreaterOrEqual,
                "500"
            ),
            // The event's own fields stay what they are.
            field(FieldName::Level, FieldOp::Equal, "ERROR"),
            field(
                parsed(LineParser::Json, "path"),
                FieldOp::Matches,
                "/api/.*"
            ),
        ]
    );
}

#[test]
fn a_metric_groups_by_labels_of_its_parser() {
    let query = r#"sum by (status, service) (count_over_time({app="x"} | logfmt [5m]))"#;

    let Query::Metric(metric) = parse(query).unwrap() else {
        panic!("not a metric query");
    };

    assert_eq!(metric.selection.parser, Some(LineParser::Logfmt));
    assert_eq!(
        metric.selection.label("status").unwrap(),
        parsed(LineParser::Logfmt, "status")
    );
    assert_eq!(
        metric.selection.label("service").unwrap(),
        FieldName::Service
    );
}
