//! One query surface over both backends: SQLite (the embedded default) and PostgreSQL
//! (several replicas on one database). The store writes each statement once, with `?`
//! placeholders, binds plain values ([`Arg`]), and runs it on a [`Pool`], a [`Tx`] or a
//! [`Conn`] of either backend; on PostgreSQL the text is translated first ([`postgres_sql`]).
//! Rows decode through `sqlx::FromRow`, which tuples and the row structs implement for both.
//!
//! Binding through our own value type costs nothing SQLite did not already pay: sqlx 0.9
//! copies every bound value into owned arguments either way.

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, AssertSqlSafe, FromRow, PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::borrow::Cow;
use std::marker::PhantomData;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction. Dropped without commit, it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A connection checked out of a pool (several reads on one snapshot-free connection).
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Where a statement runs.
pub enum Ex<'a> {
    Pool(&'a Pool),
    Tx(&'a mut Tx),
    Conn(&'a mut Conn),
}

impl<'a> From<&'a Pool> for Ex<'a> {
    fn from(p: &'a Pool) -> Self {
        Ex::Pool(p)
    }
}

impl<'a> From<&'a mut Tx> for Ex<'a> {
    fn from(t: &'a mut Tx) -> Self {
        Ex::Tx(t)
    }
}

impl<'a> From<&'a mut Conn> for Ex<'a> {
    fn from(c: &'a mut Conn) -> Self {
        Ex::Conn(c)
    }
}

impl Pool {
    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn acquire(&self) -> super::Result<Conn> {
        Ok(match self {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }

    /// A plain transaction (`BEGIN`): reads on one snapshot on SQLite; on PostgreSQL
    /// READ COMMITTED unless the caller asks for more.
    pub async fn begin(&self) -> super::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction on one snapshot: SQLite's WAL gives every transaction one;
    /// PostgreSQL's READ COMMITTED would give each statement its own, so it asks for
    /// REPEATABLE READ (a report's figures, or a walk of the audit chain, from one instant).
    pub async fn begin_snapshot(&self) -> super::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

impl Ex<'_> {
    /// The same executor for one more statement.
    pub fn reborrow(&mut self) -> Ex<'_> {
        match self {
            Ex::Pool(p) => Ex::Pool(p),
            Ex::Tx(t) => Ex::Tx(t),
            Ex::Conn(c) => Ex::Conn(c),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Ex::Pool(p) => p.backend(),
            Ex::Tx(t) => t.backend(),
            Ex::Conn(Conn::Sqlite(_)) => Backend::Sqlite,
            Ex::Conn(Conn::Postgres(_)) => Backend::Postgres,
        }
    }
}

/// A bound value. Integers are i64 on both backends (BIGINT columns on PostgreSQL).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::Int(Some(v as i64))
            }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Self {
                Arg::Int(v.map(|v| v as i64))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u16, u8, usize);

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(Some(v as i64))
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Real(Some(v))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}

/// A row type both backends decode.
pub trait Decoded:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}
impl<T> Decoded for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// A statement with its bound values.
#[derive(Debug, Clone)]
pub struct Query {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A statement whose rows decode as `T`.
pub struct QueryAs<T> {
    q: Query,
    row: PhantomData<fn() -> T>,
}

/// A statement whose rows are one column of type `T`.
pub struct QueryScalar<T> {
    q: Query,
    row: PhantomData<fn() -> T>,
}

/// A statement. Its text holds placeholders only, never a value, so it cannot carry an
/// injection, even when built from one of the batch shapes.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

pub fn query_as<T: Decoded>(sql: impl Into<Cow<'static, str>>) -> QueryAs<T> {
    QueryAs {
        q: query(sql),
        row: PhantomData,
    }
}

pub fn query_scalar<T>(sql: impl Into<Cow<'static, str>>) -> QueryScalar<T>
where
    (T,): Decoded,
{
    QueryScalar {
        q: query(sql),
        row: PhantomData,
    }
}

/// The bound values as `DB`'s arguments.
fn encode<DB: sqlx::Database>(args: Vec<Arg>) -> Result<DB::Arguments, sqlx::Error>
where
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut out = DB::Arguments::default();
    out.reserve(args.len(), 0);
    for a in args {
        match a {
            Arg::Int(v) => out.add(v),
            Arg::Real(v) => out.add(v),
            Arg::Text(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// Runs `$body` with `$sql`/`$args` ready for the executor's backend and `$e` the executor.
/// An `Ex` is of one backend throughout (a pool, its transactions and its connections), so
/// the inner match has one arm per kind of executor.
macro_rules! on_backend {
    ($ex:expr, $q:expr, |$sql:ident, $args:ident, $e:ident| $body:expr) => {{
        let Query { sql, args } = $q;
        let ex = $ex;
        match ex.backend() {
            Backend::Sqlite => {
                let ($sql, $args) = (AssertSqlSafe(sql), encode::<Sqlite>(args)?);
                match ex {
                    Ex::Pool(Pool::Sqlite($e)) => $body,
                    Ex::Tx(Tx::Sqlite(t)) => {
                        let $e = &mut **t;
                        $body
                    }
                    Ex::Conn(Conn::Sqlite(c)) => {
                        let $e = &mut **c;
                        $body
                    }
                    _ => unreachable!("a SQLite executor"),
                }
            }
            Backend::Postgres => {
                let $sql = AssertSqlSafe(Cow::Owned(postgres_sql(&sql)));
                let $args = encode::<Postgres>(args)?;
                match ex {
                    Ex::Pool(Pool::Postgres($e)) => $body,
                    Ex::Tx(Tx::Postgres(t)) => {
                        let $e = &mut **t;
                        $body
                    }
                    Ex::Conn(Conn::Postgres(c)) => {
                        let $e = &mut **c;
                        $body
                    }
                    _ => unreachable!("a PostgreSQL executor"),
                }
            }
        }
    }};
}

impl Query {
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Runs it; answers the rows it changed.
    pub async fn execute<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<u64> {
        let done = on_backend!(ex.into(), self, |sql, args, e| sqlx::query_with(sql, args)
            .execute(e)
            .await?
            .rows_affected());
        Ok(done)
    }

    async fn all<'a, T: Decoded>(self, ex: impl Into<Ex<'a>>) -> super::Result<Vec<T>> {
        let rows = on_backend!(ex.into(), self, |sql, args, e| {
            sqlx::query_as_with::<_, T, _>(sql, args)
                .fetch_all(e)
                .await?
        });
        Ok(rows)
    }

    async fn optional<'a, T: Decoded>(self, ex: impl Into<Ex<'a>>) -> super::Result<Option<T>> {
        let row = on_backend!(ex.into(), self, |sql, args, e| {
            sqlx::query_as_with::<_, T, _>(sql, args)
                .fetch_optional(e)
                .await?
        });
        Ok(row)
    }
}

impl<T: Decoded> QueryAs<T> {
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_all<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<Vec<T>> {
        self.q.all(ex).await
    }

    pub async fn fetch_optional<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<Option<T>> {
        self.q.optional(ex).await
    }

    pub async fn fetch_one<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<T> {
        self.q
            .optional(ex)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound.into())
    }
}

impl<T> QueryScalar<T>
where
    (T,): Decoded,
{
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_all<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<Vec<T>> {
        Ok(self
            .q
            .all::<(T,)>(ex)
            .await?
            .into_iter()
            .map(|(v,)| v)
            .collect())
    }

    pub async fn fetch_optional<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<Option<T>> {
        Ok(self.q.optional::<(T,)>(ex).await?.map(|(v,)| v))
    }

    pub async fn fetch_one<'a>(self, ex: impl Into<Ex<'a>>) -> super::Result<T> {
        self.fetch_optional(ex)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound.into())
    }
}

/// The statement as PostgreSQL takes it: `?` placeholders numbered `$1, $2 …` (`?NNN`
/// becomes `$NNN`; the store never mixes the two in one statement), and the
/// few SQLite spellings the store uses put in PostgreSQL's: `INDEXED BY <index>` (a
/// planner hint PostgreSQL has no use for) dropped, `instr(` → `strpos(`, `char(` →
/// `chr(`. The store's texts hold no string literal with a `?` in it.
pub fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut rest = sql;
    while let Some(i) = rest.find(['?', 'I', 'i', 'c']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix('?') {
            // `?NNN` names its parameter; a bare `?` is the next one.
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            out.push('$');
            if digits > 0 {
                out.push_str(&after[..digits]);
            } else {
                n += 1;
                out.push_str(&n.to_string());
            }
            rest = &after[digits..];
        } else if let Some(after) = rest.strip_prefix("INDEXED BY ") {
            // The index name, then its trailing space.
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = after[end..].trim_start_matches(' ');
        } else if let Some(after) = word_call(&out, rest, "instr(") {
            out.push_str("strpos(");
            rest = after;
        } else if let Some(after) = word_call(&out, rest, "char(") {
            out.push_str("chr(");
            rest = after;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

/// `rest` after `call` when `rest` starts with it as a whole word (not `varchar(`):
/// `before` is the text already written.
fn word_call<'a>(before: &str, rest: &'a str, call: &str) -> Option<&'a str> {
    let joined = before
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    rest.strip_prefix(call).filter(|_| !joined)
}

/// Whether the error is PostgreSQL telling two transactions collided (a deadlock, a
/// serialization failure, a unique key taken by a concurrent insert): the same work can
/// be done again on the new state.
pub fn is_collision(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40P01" | "40001")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_and_sqlite_spellings_translated() {
        assert_eq!(
            postgres_sql("SELECT a FROM t INDEXED BY t_a WHERE x = ? AND y IN (?, ?)"),
            "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"
        );
        assert_eq!(
            postgres_sql("WHERE a = ?1 AND b = ?2 AND c >= ?1"),
            "WHERE a = $1 AND b = $2 AND c >= $1"
        );
        assert_eq!(
            postgres_sql("WHERE instr(?, char(10) || d || char(10)) = 0"),
            "WHERE strpos($1, chr(10) || d || chr(10)) = 0"
        );
        assert_eq!(
            postgres_sql("SELECT CAST(x AS varchar(3)), created_at FROM c"),
            "SELECT CAST(x AS varchar(3)), created_at FROM c"
        );
    }
}
