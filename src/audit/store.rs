//! Where records live: a SQLite file (one replica, the embedded default) or PostgreSQL (several
//! replicas writing one trail). One schema, one set of SQL statements for both.
//!
//! Why not `sqlx::Any`: it needs another sqlx feature (a rebuild of sqlx for every crate user)
//! and maps types through a lowest common denominator at run time. The statements here use only
//! `$N` parameters, `BIGINT` and `TEXT`, which both engines read the same way, so a small enum
//! and one macro that expands each statement for both pools keep a single copy of the SQL and
//! full type checking per engine.
//!
//! Why sqlx's migrator with embedded migrations (rather than an own version table): it takes
//! a PostgreSQL advisory lock, so three replicas starting at once migrate exactly once; it
//! checksums applied migrations; and `migrate!` embeds the files at compile time, so no
//! database is needed to build. Missing (newer) versions are ignored so an old replica keeps
//! writing during a rolling upgrade.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::record::{Record, RecordViolation};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the audit trail {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("audit trail {target}: the file does not exist")]
    Missing { target: String },
    #[error("no audit trail is configured (audit.path or audit.url)")]
    NotConfigured,
    #[error("cannot migrate the audit trail {target}: {source}")]
    Migrate {
        target: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("audit trail query failed: {0}")]
    Query(#[source] sqlx::Error),
    #[error("audit trail holds a record that is not valid: {0}")]
    Corrupt(#[source] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `audit.path`, `audit.url` or `report --audit` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; anything else a SQLite file path
    /// (an optional `sqlite:` prefix is accepted).
    pub fn parse(text: &str) -> Target {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Target::Postgres(text.to_string())
        } else {
            let path = text.strip_prefix("sqlite://").unwrap_or(text);
            let path = path.strip_prefix("sqlite:").unwrap_or(path);
            Target::Sqlite(PathBuf::from(path))
        }
    }

    /// For logs: the password of a URL is never printed.
    pub fn redacted(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let userinfo = &url[scheme + 3..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// Records matching a report's filters. Times are inclusive `since`, exclusive `until`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub user: Option<String>,
    pub namespace: Option<String>,
    /// Most records returned (newest first).
    pub limit: Option<u32>,
}

/// Records a report reads at most, so a huge trail cannot exhaust memory.
pub const DEFAULT_LIMIT: u32 = 100_000;

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one body against whichever pool the store holds; each arm is type-checked on its own.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

const INSERT: &str = "INSERT INTO driftgate_audit (time_ms, uid, user_name, groups, operation, \
    subresource, api_group, api_version, kind, namespace, name, decision, mode, revision, source, \
    file, break_glass, endpoint, replica, violations, omitted, changes) VALUES \
    ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
    $21, $22)";

/// The columns read; `CHANGES` stands for the `changes` column, or `NULL` in a trail that a
/// reader opened without migrating (an older file `report` reads).
const COLUMNS: &str = "SELECT id, time_ms, uid, user_name, groups, operation, subresource, \
    api_group, api_version, kind, namespace, name, decision, mode, revision, source, file, \
    break_glass, endpoint, replica, violations, omitted, CHANGES AS changes FROM driftgate_audit";

const WHERE_FILTER: &str = " WHERE time_ms >= $1 AND time_ms < $2 \
    AND ($3 IS NULL OR user_name = $3) AND ($4 IS NULL OR namespace = $4) \
    ORDER BY time_ms DESC, id DESC LIMIT $5";

const WHERE_ID: &str = " WHERE id = $1";
const WHERE_UID: &str = " WHERE uid = $1 ORDER BY id DESC LIMIT 1";

const HAS_CHANGES_SQLITE: &str =
    "SELECT COUNT(*) FROM pragma_table_info('driftgate_audit') WHERE name = 'changes'";
const HAS_CHANGES_POSTGRES: &str = "SELECT COUNT(*) FROM information_schema.columns \
    WHERE table_schema = current_schema() AND table_name = 'driftgate_audit' \
    AND column_name = 'changes'";

const PRUNE: &str = "DELETE FROM driftgate_audit WHERE time_ms < $1";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    time_ms: i64,
    uid: String,
    user_name: String,
    groups: String,
    operation: String,
    subresource: String,
    api_group: String,
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    decision: String,
    mode: String,
    revision: String,
    source: String,
    file: String,
    break_glass: Option<String>,
    endpoint: String,
    replica: String,
    violations: String,
    omitted: i64,
    changes: Option<String>,
}

impl Row {
    fn into_record(self) -> Result<Record> {
        let groups: Vec<String> = serde_json::from_str(&self.groups).map_err(Error::Corrupt)?;
        let violations: Vec<RecordViolation> =
            serde_json::from_str(&self.violations).map_err(Error::Corrupt)?;
        Ok(Record {
            time: Timestamp::from_millisecond(self.time_ms).unwrap_or(Timestamp::UNIX_EPOCH),
            uid: self.uid,
            user: self.user_name,
            groups,
            operation: self.operation,
            subresource: self.subresource,
            group: self.api_group,
            version: self.api_version,
            kind: self.kind,
            namespace: self.namespace,
            name: self.name,
            decision: self.decision,
            mode: self.mode,
            revision: self.revision,
            source: self.source,
            file: self.file,
            break_glass: self.break_glass,
            endpoint: self.endpoint,
            replica: self.replica,
            violations,
            omitted: u32::try_from(self.omitted).unwrap_or(u32::MAX),
            changes: self
                .changes
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(Error::Corrupt)?,
            id: Some(self.id),
        })
    }
}

impl Store {
    /// Opens for writing: creates the SQLite file if needed and applies migrations.
    pub async fn open(target: &Target) -> Result<Store> {
        let store = Store::connect(target, true).await?;
        store.migrate(target).await?;
        Ok(store)
    }

    /// Opens an existing trail for reading (reports): never creates a file.
    pub async fn open_existing(target: &Target) -> Result<Store> {
        if let Target::Sqlite(path) = target {
            if !path.exists() {
                return Err(Error::Missing {
                    target: target.redacted(),
                });
            }
        }
        Store::connect(target, false).await
    }

    async fn connect(target: &Target, create: bool) -> Result<Store> {
        let connect_err = |source| Error::Connect {
            target: target.redacted(),
            source,
        };
        match target {
            Target::Sqlite(path) => {
                let options = sqlite_options(path, create);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?;
                Ok(Store::Sqlite(pool))
            }
            Target::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    // An unreachable database must fail fast: the writer degrades and retries.
                    .acquire_timeout(Duration::from_secs(3))
                    .connect(url)
                    .await
                    .map_err(connect_err)?;
                Ok(Store::Postgres(pool))
            }
        }
    }

    async fn migrate(&self, target: &Target) -> Result<()> {
        let migrate_err = |source| Error::Migrate {
            target: target.redacted(),
            source,
        };
        match self {
            Store::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("migrations/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await.map_err(migrate_err)
            }
            Store::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("migrations/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await.map_err(migrate_err)
            }
        }
    }

    /// Writes a batch in one transaction: all or none, one fsync.
    pub async fn insert(&self, records: &[Record]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(Error::Query)?;
            for r in records {
                let groups = serde_json::to_string(&r.groups).map_err(Error::Corrupt)?;
                let violations = serde_json::to_string(&r.violations).map_err(Error::Corrupt)?;
                let changes = r
                    .changes
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(Error::Corrupt)?;
                sqlx::query(INSERT)
                    .bind(r.time.as_millisecond())
                    .bind(&r.uid)
                    .bind(&r.user)
                    .bind(groups)
                    .bind(&r.operation)
                    .bind(&r.subresource)
                    .bind(&r.group)
                    .bind(&r.version)
                    .bind(&r.kind)
                    .bind(&r.namespace)
                    .bind(&r.name)
                    .bind(&r.decision)
                    .bind(&r.mode)
                    .bind(&r.revision)
                    .bind(&r.source)
                    .bind(&r.file)
                    .bind(&r.break_glass)
                    .bind(&r.endpoint)
                    .bind(&r.replica)
                    .bind(violations)
                    .bind(i64::from(r.omitted))
                    .bind(changes)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::Query)?;
            }
            tx.commit().await.map_err(Error::Query)
        })
    }

    /// Matching records, newest first. A trail whose table does not exist yet (a reader that
    /// opened the file or database between the writer creating it and migrating it, the first
    /// moments after a start) has recorded nothing: an empty answer, not an error.
    pub async fn query(&self, filter: &Filter) -> Result<Vec<Record>> {
        let since = filter.since.map(|t| t.as_millisecond()).unwrap_or(i64::MIN);
        let until = filter.until.map(|t| t.as_millisecond()).unwrap_or(i64::MAX);
        let limit = i64::from(filter.limit.unwrap_or(DEFAULT_LIMIT));
        let select = format!("{}{WHERE_FILTER}", self.columns().await?);
        let rows: std::result::Result<Vec<Row>, sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_as::<_, Row>(&select)
                .bind(since)
                .bind(until)
                .bind(&filter.user)
                .bind(&filter.namespace)
                .bind(limit)
                .fetch_all(pool)
                .await
        });
        match rows {
            Ok(rows) => rows.into_iter().map(Row::into_record).collect(),
            // Only asked on failure: a report costs no extra round trip when all is well.
            Err(_) if !self.has_table().await? => Ok(Vec::new()),
            Err(e) => Err(Error::Query(e)),
        }
    }

    /// Whether the records table exists (the migrations ran; each runs in one transaction, so
    /// the table is either absent or complete).
    async fn has_table(&self) -> Result<bool> {
        let found: i64 = match self {
            Store::Sqlite(pool) => sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'driftgate_audit'",
            )
            .fetch_one(pool)
            .await
            .map_err(Error::Query)?,
            Store::Postgres(pool) => sqlx::query_scalar(
                "SELECT count(*) FROM pg_catalog.pg_tables \
                 WHERE tablename = 'driftgate_audit' AND schemaname = ANY (current_schemas(false))",
            )
            .fetch_one(pool)
            .await
            .map_err(Error::Query)?,
        };
        Ok(found > 0)
    }

    /// One record, by its number in the trail or by the request's uid (the latest record of
    /// that request).
    pub async fn get(&self, id: &str) -> Result<Option<Record>> {
        let columns = self.columns().await?;
        let row: Option<Row> = match id.parse::<i64>() {
            Ok(number) => {
                let select = format!("{columns}{WHERE_ID}");
                on_pool!(self, pool => {
                    sqlx::query_as::<_, Row>(&select)
                        .bind(number)
                        .fetch_optional(pool)
                        .await
                        .map_err(Error::Query)?
                })
            }
            Err(_) => {
                let select = format!("{columns}{WHERE_UID}");
                on_pool!(self, pool => {
                    sqlx::query_as::<_, Row>(&select)
                        .bind(id)
                        .fetch_optional(pool)
                        .await
                        .map_err(Error::Query)?
                })
            }
        };
        row.map(Row::into_record).transpose()
    }

    /// The column list to read, by whether the trail has the `changes` column yet.
    async fn columns(&self) -> Result<String> {
        let count: i64 = match self {
            Store::Sqlite(pool) => sqlx::query_scalar(HAS_CHANGES_SQLITE)
                .fetch_one(pool)
                .await
                .map_err(Error::Query)?,
            Store::Postgres(pool) => sqlx::query_scalar(HAS_CHANGES_POSTGRES)
                .fetch_one(pool)
                .await
                .map_err(Error::Query)?,
        };
        let changes = if count > 0 { "changes" } else { "NULL" };
        Ok(COLUMNS.replace("CHANGES", changes))
    }

    /// Deletes records older than `before`; returns how many.
    pub async fn prune(&self, before: Timestamp) -> Result<u64> {
        let result = on_pool!(self, pool => {
            sqlx::query(PRUNE)
                .bind(before.as_millisecond())
                .execute(pool)
                .await
                .map_err(Error::Query)?
                .rows_affected()
        });
        Ok(result)
    }

    /// A round trip to the trail (used to notice it is back).
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map_err(Error::Query)
                .map(|_| ())
        })
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

fn sqlite_options(path: &Path, create: bool) -> SqliteConnectOptions {
    // WAL lets a report read while the writer writes; NORMAL sync is durable across a
    // process crash, which is what an audit trail next to a webhook needs.
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_redaction() {
        assert_eq!(
            Target::parse("/var/lib/a.db"),
            Target::Sqlite("/var/lib/a.db".into())
        );
        assert_eq!(Target::parse("sqlite:a.db"), Target::Sqlite("a.db".into()));
        let pg = Target::parse("postgres://dg:s3cret@db:5432/audit");
        assert!(matches!(pg, Target::Postgres(_)));
        assert_eq!(pg.redacted(), "postgres://dg:***@db:5432/audit");
        assert!(!pg.redacted().contains("s3cret"));
    }
}
