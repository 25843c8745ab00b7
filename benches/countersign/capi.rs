//! Just enough of SQLite's C API for the commit ceiling: one connection and prepared
//! statements, called synchronously on the caller's thread. It goes through the same
//! `libsqlite3-sys` (the same compiled SQLite) that sqlx links for the service.

use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString, c_int};
use std::path::Path;
use std::ptr;

/// One open database handle; closed on drop. Not shared between threads.
pub struct Connection {
    db: *mut ffi::sqlite3,
}

impl Connection {
    /// Opens (creating if needed) a read-write connection, as sqlx opens its own: no
    /// per-connection mutex, since only one thread uses it.
    pub fn open(path: &Path) -> Result<Self, String> {
        let name =
            CString::new(path.to_str().ok_or("path is not UTF-8")?).map_err(|e| e.to_string())?;
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE | ffi::SQLITE_OPEN_NOMUTEX;
        let mut db = ptr::null_mut();
        // SAFETY: `name` is a NUL-terminated string that outlives the call and `db` is a
        // valid out-pointer; a null VFS name selects the default VFS.
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        if db.is_null() {
            return Err(format!("sqlite3_open_v2: out of memory (code {rc})"));
        }
        // Even a failed open returns a handle that must be closed: `conn`'s drop does.
        let conn = Self { db };
        conn.check(rc, "open")?;
        Ok(conn)
    }

    /// Runs SQL that returns no rows we need (pragmas, DDL), statement by statement.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let sql = CString::new(sql).map_err(|e| e.to_string())?;
        // SAFETY: `self.db` is open; `sql` is NUL-terminated; no callback, so rows that a
        // pragma returns are discarded; a null error pointer makes SQLite keep the
        // message on the handle, where `check` reads it.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db,
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        self.check(rc, "exec")
    }

    /// Compiles one statement once, to be run many times.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>, String> {
        let len = c_int::try_from(sql.len()).map_err(|e| e.to_string())?;
        let mut stmt = ptr::null_mut();
        // SAFETY: `self.db` is open; `sql` is valid for `len` bytes (the length is given,
        // so no NUL terminator is needed); `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                self.db,
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        self.check(rc, "prepare")?;
        if stmt.is_null() {
            return Err(format!("no statement in {sql:?}"));
        }
        Ok(Statement { stmt, db: self })
    }

    fn check(&self, rc: c_int, what: &str) -> Result<(), String> {
        if rc == ffi::SQLITE_OK {
            return Ok(());
        }
        // SAFETY: `self.db` is a handle from `sqlite3_open_v2`; the message is a
        // NUL-terminated string owned by SQLite, copied out before any other call.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) };
        Err(format!("{what}: {} (code {rc})", msg.to_string_lossy()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: every `Statement` borrows its connection, so all were finalized
        // before the connection can be dropped; plain `close` then succeeds.
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

/// A prepared statement of `Connection` `'c`; finalized on drop.
pub struct Statement<'c> {
    stmt: *mut ffi::sqlite3_stmt,
    db: &'c Connection,
}

impl Statement<'_> {
    /// Binds `text` to parameter `index` (from 1). SQLite copies it, as sqlx's binds do.
    pub fn bind_text(&mut self, index: c_int, text: &str) -> Result<(), String> {
        let len = c_int::try_from(text.len()).map_err(|e| e.to_string())?;
        // SAFETY: `self.stmt` is a live statement; `text` is valid for `len` bytes for
        // the call, and SQLITE_TRANSIENT makes SQLite copy it before returning.
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                self.stmt,
                index,
                text.as_ptr().cast(),
                len,
                ffi::SQLITE_TRANSIENT(),
            )
        };
        self.db.check(rc, "bind")
    }

    /// Steps the statement to completion, discarding any rows (a pragma's answer), and
    /// resets it for the next run; bindings stay until rebound.
    pub fn run(&mut self) -> Result<(), String> {
        loop {
            // SAFETY: `self.stmt` is a live statement of an open connection, used by
            // this thread only.
            let rc = unsafe { ffi::sqlite3_step(self.stmt) };
            if rc == ffi::SQLITE_ROW {
                continue;
            }
            // SAFETY: as above; after DONE or an error, reset makes it runnable again.
            let reset = unsafe { ffi::sqlite3_reset(self.stmt) };
            return match rc {
                ffi::SQLITE_DONE => self.db.check(reset, "reset"),
                _ => self.db.check(rc, "step"),
            };
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: `self.stmt` came from `sqlite3_prepare_v2` and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}
