//! The shared `LogStore` contract (`application::testing::store_contract`), one test per
//! behaviour, each in a fresh database: ClickHouse must do exactly what the in-memory store
//! does, and select exactly what `Filter::matches` (the live tail's filter) accepts.

use application::testing::store_contract;

use crate::common::TestDatabase;

macro_rules! contract_tests {
    ($($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let database = TestDatabase::migrated().await;
                store_contract::$behaviour(&database.store()).await;
                database.drop().await;
            }
        )*
    };
}

contract_tests!(
    stored_events_read_back_unchanged,
    filters_combine_and_results_are_newest_first,
    limit_and_offset_page_through_results,
    text_search_matches_every_term_ignoring_case_and_literally,
    metadata_and_trace_conditions_match_exactly,
    min_level_selects_that_level_and_above,
    the_store_selects_what_filter_matches_accepts,
    cursors_page_through_equal_timestamps_without_gaps_or_repeats,
    pages_of_recent_logs_are_complete_in_both_orders,
    counts_per_group_are_largest_first,
    histograms_count_per_bucket_and_level,
    exports_read_every_match_in_order,
    arrivals_are_read_in_receive_order,
);
