//! The shared store contract (`application::testing::store_contract`), one test per behaviour,
//! each in a fresh database: ClickHouse must do exactly what the in-memory store does, and
//! select exactly what `Filter::matches` (the live tail's filter) accepts.

use crate::common::TestDatabase;

application::store_contract_tests!(
    setup = TestDatabase::migrated(),
    store = |database| database.store(),
    teardown = |database| database.drop().await,
);
