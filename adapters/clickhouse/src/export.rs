//! [`ExportCursor`]: an export's rows read from ClickHouse's streamed answer, a batch at a
//! time, so neither side holds more than a batch (plus the HTTP buffers) in memory.

use std::time::Duration;

use application::ports::{EventCursor, StoreError};
use async_trait::async_trait;
use clickhouse::query::RowCursor;
use domain::LogEvent;

use crate::errors::{NoAnswerInTime, Operation, classify};
use crate::row::LogRow;

/// Rows handed out per call.
const BATCH_ROWS: usize = 1000;

/// Reads an export's answer as it streams in.
pub(crate) struct ExportCursor {
    rows: RowCursor<LogRow>,
    /// Longest wait for the next row (the first one may wait for the whole sort).
    wait: Duration,
    finished: bool,
}

impl std::fmt::Debug for ExportCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportCursor")
            .field("wait", &self.wait)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ExportCursor {
    pub(crate) fn new(rows: RowCursor<LogRow>, wait: Duration) -> Self {
        Self {
            rows,
            wait,
            finished: false,
        }
    }

    async fn next_row(&mut self) -> Result<Option<LogRow>, StoreError> {
        match tokio::time::timeout(self.wait, self.rows.next()).await {
            Ok(Ok(row)) => Ok(row),
            Ok(Err(error)) => Err(classify(error, Operation::Query)),
            Err(_) => Err(StoreError::TimedOut(Box::new(NoAnswerInTime(self.wait)))),
        }
    }
}

#[async_trait]
impl EventCursor for ExportCursor {
    async fn next_batch(&mut self) -> Result<Vec<LogEvent>, StoreError> {
        let mut batch = Vec::new();
        while !self.finished && batch.len() < BATCH_ROWS {
            match self.next_row().await {
                Ok(Some(row)) => batch.push(
                    row.into_event()
                        .map_err(|invalid| StoreError::Failed(Box::new(invalid)))
                        .inspect_err(|_| self.finished = true)?,
                ),
                Ok(None) => self.finished = true,
                Err(error) => {
                    self.finished = true;
                    return Err(error);
                }
            }
        }
        Ok(batch)
    }
}
