//! The embedded audit event store of `mcp-runtime dev`: one SQLite file holding the same rows
//! the processor writes to ClickHouse (`mcp_sentinel::EventRow`, columns from
//! `mcp_events::columns`), answering the same queries with the same shapes
//! (`mcp_sentinel::query`), so the platform API serves analytics from either store unchanged.
//!
//! Writes are durable when acknowledged: [`EventStore::insert`] resolves once the rows are
//! committed to the write-ahead log, which survives the process being killed. Concurrent
//! writers are group-committed: one writer task drains whatever is queued into one
//! transaction, so a burst of calls costs one commit, not one each. An event id is stored once
//! (`INSERT OR IGNORE`): a redelivered event is counted once, as ClickHouse's `FINAL` does.
//!
//! Reads go through a separate pool of read-only connections (WAL readers never block the
//! writer). Every caller value is a bound parameter; limits and windows are clamped exactly as
//! `mcp_sentinel::query` documents.

mod query;
mod schema;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use mcp_sentinel::EventRow;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

pub use query::quantile_exact;

/// Rows a single commit takes at most.
const MAX_BATCH: usize = 2_048;
/// Rows written between two refreshes of the planner's statistics.
const ANALYZE_EVERY: usize = 100_000;
/// Writes waiting for the writer at most (callers wait for room beyond that).
const QUEUE: usize = 16_384;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("event store: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The writer task is gone (the store is shutting down).
    #[error("event store is closed")]
    Closed,
}

impl From<StoreError> for mcp_sentinel::query::QueryError {
    fn from(e: StoreError) -> Self {
        mcp_sentinel::query::QueryError::Store(e.to_string())
    }
}

/// One queued write: rows and who waits for their commit.
struct Write {
    rows: Vec<EventRow>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The store: a writer task and a pool of readers over one SQLite file.
#[derive(Clone)]
pub struct EventStore {
    writes: mpsc::Sender<Write>,
    read: SqlitePool,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore").finish_non_exhaustive()
    }
}

impl EventStore {
    /// Opens (creating when missing) the store at `path`, creates or migrates the table, and
    /// starts the writer task on the current runtime.
    pub async fn open(path: &Path) -> Result<EventStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit is in the log before it returns; a killed process loses
            // nothing committed (only a power cut can lose the last transactions).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // Rollups sort and group hundreds of thousands of rows: keep their temporary
            // B-trees in memory, a 64 MiB page cache per connection, and reads through mmap.
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        schema::migrate(&write).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(write, rx));
        Ok(EventStore { writes: tx, read })
    }

    /// Stores `rows` and resolves once they are committed (an event id already stored is
    /// skipped).
    pub async fn insert(&self, rows: Vec<EventRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.writes.send(Write { rows, done }).await.map_err(|_| StoreError::Closed)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Sqlite(sqlx::Error::Protocol(e))),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Number of stored events (all of them).
    pub async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&self.read).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The read pool (queries live in [`query`]).
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.read
    }
}

/// Drains the queue into transactions: everything waiting (up to [`MAX_BATCH`] rows) is one
/// commit; each write is answered after its commit.
async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<Write>) {
    let mut since_analyze = 0usize;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut rows = batch[0].rows.len();
        while rows < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => {
                    rows += w.rows.len();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        let result = schema::insert(&pool, batch.iter().flat_map(|w| w.rows.iter())).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, rows, "event store: commit failed");
        }
        for w in batch {
            let _ = w.done.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        // Fresh planner statistics as the table grows (after the writers were answered).
        since_analyze += rows;
        if since_analyze >= ANALYZE_EVERY {
            since_analyze = 0;
            if let Err(e) = sqlx::query("PRAGMA optimize = 0x10002").execute(&pool).await {
                tracing::warn!(error = %e, "event store: PRAGMA optimize failed");
            }
        }
    }
    pool.close().await;
}
