//! The ClickHouse adapter: [`ClickHouseLogStore`] implements the `LogWriter` and `LogReader` ports over
//! ClickHouse's HTTP interface, and [`apply_migrations`] brings a database to the schema of the
//! workspace's `migrations/*.sql` files, which are embedded at compile time.
//!
//! Works with ClickHouse 18.16 (Debian 12's package) and current releases: rows travel as
//! RowBinary without server-side validation, queries bind every value client-side.

mod config;
mod errors;
mod export;
mod metric;
mod migrations;
mod retention;
mod row;
mod sql;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{ClickHouseCompression, ClickHouseConfig};
pub use migrations::{
    AppliedMigration, EmbeddedMigration, MigrationError, apply_migrations,
    embedded_cluster_migrations, embedded_migrations,
};
pub use retention::ClickHouseRetention;
pub use store::ClickHouseLogStore;
