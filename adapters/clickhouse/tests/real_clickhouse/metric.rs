//! Metric queries over ClickHouse answer what the same queries answer over the in-memory store,
//! whose windows follow the definition log by log: steps shorter than, equal to and longer
//! than the range, ranges that are no multiple of the step, every grouping and function.

use std::sync::Arc;

use application::ports::{LogReader, LogWriter};
use application::testing::InMemoryLogStore;
use application::testing::store_contract::custom_event;
use application::{MetricDraft, MetricTimes, QueryUseCase};
use domain::{
    FieldName, FilterDraft, Level, LineCondition, LogEvent, RangeFunction, SeriesGrouping,
    Timestamp,
};

use crate::common::TestDatabase;

const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_777_975_200 * SECOND;
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn at_millis(millis: u64) -> Timestamp {
    Timestamp::from_unix_nanos(T0 + millis * 1_000_000)
}

fn events(count: usize) -> Vec<LogEvent> {
    let mut random = fastrand::Rng::with_seed(13);
    let levels = [Level::Debug, Level::Info, Level::Warn, Level::Error];
    (0..count)
        .map(|_| {
            let message = format!(
                "{} näive {}",
                "x".repeat(random.usize(0..30)),
                random.u8(..)
            );
            let host = format!("h{}", random.u8(0..3));
            let odd = format!("v{}", random.u8(0..2));
            let mut metadata = vec![("host", host.as_str())];
            if random.bool() {
                metadata.push(("we'ird\"key", odd.as_str()));
            }
            custom_event(
                ["auth", "billing", "search"][random.usize(0..3)],
                levels[random.usize(0..4)],
                &message,
                at_millis(random.u64(0..1_800_000)),
                &metadata,
                TRACE,
            )
        })
        .collect()
}

#[tokio::test]
async fn metric_answers_over_clickhouse_equal_the_in_memory_definition() {
    let database = TestDatabase::migrated().await;
    let clickhouse = database.store();
    let memory = InMemoryLogStore::default();
    let events = events(3000);
    clickhouse.insert(&events).await.unwrap();
    memory.insert(&events).await.unwrap();
    let over_clickhouse = QueryUseCase::new(Arc::new(clickhouse) as Arc<dyn LogReader>);
    let over_memory = QueryUseCase::new(Arc::new(memory) as Arc<dyn LogReader>);

    let groupings = [
        SeriesGrouping::Streams,
        SeriesGrouping::Sum(Vec::new()),
        SeriesGrouping::Sum(vec![FieldName::Level]),
        SeriesGrouping::Sum(vec![
            FieldName::Service,
            FieldName::Metadata("we'ird\"key".into()),
        ]),
        SeriesGrouping::Count(vec![FieldName::Level]),
        SeriesGrouping::Count(Vec::new()),
    ];
    let functions = [
        RangeFunction::CountOverTime,
        RangeFunction::Rate,
        RangeFunction::BytesOverTime,
        RangeFunction::BytesRate,
    ];
    // (range, step, start) in seconds; the data spans 0 to 1800 s.
    let grids = [
        (60, 60, 60),
        (300, 45, 30),
        (50, 70, 55),
        (7, 1, 1000),
        (600, 600, 1800),
    ];
    let mut compared = 0;
    for (index, grouping) in groupings.iter().enumerate() {
        for (range, step, start) in grids {
            let draft = MetricDraft {
                conditions: FilterDraft {
                    services: vec!["auth".into(), "search".into()],
                    line_conditions: if index % 2 == 0 {
                        vec![LineCondition::NotContains("xxxxx".into())]
                    } else {
                        Vec::new()
                    },
                    ..FilterDraft::default()
                },
                function: functions[(index + start as usize) % functions.len()],
                range_nanos: range * SECOND,
                times: MetricTimes::Range {
                    start: at_millis(start * 1000),
                    end: at_millis(1_850_000),
                    step_nanos: step * SECOND,
                },
                grouping: grouping.clone(),
            };
            let expected = over_memory.metric(draft.clone()).await.unwrap();
            let answered = over_clickhouse.metric(draft.clone()).await.unwrap();
            assert!(!expected.series.is_empty(), "{draft:?}");
            assert_eq!(answered, expected, "{draft:?}");
            compared += 1;
        }
    }
    let instant = MetricDraft {
        conditions: FilterDraft::default(),
        function: RangeFunction::CountOverTime,
        range_nanos: 600 * SECOND,
        times: MetricTimes::Instant {
            at: at_millis(900_000),
        },
        grouping: SeriesGrouping::Sum(vec![FieldName::Metadata("host".into())]),
    };
    let answered = over_clickhouse.metric(instant.clone()).await.unwrap();
    assert_eq!(answered, over_memory.metric(instant).await.unwrap());
    assert_eq!(answered.series.len(), 3, "one series per host");
    assert_eq!(compared, 30);
    database.drop().await;
}
