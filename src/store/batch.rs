//! Many rows per statement, bound as plain parameters. A batch is cut into chunks of 256,
//! 128, 64 … 1 rows (largest first), so it takes a handful of statements whatever its size,
//! and each statement shape has at most nine texts — all kept prepared in sqlx's
//! per-connection cache. Through sqlx every statement is a round trip to the connection's
//! thread (tens of µs), which is what batching saves; binding beats passing rows as one
//! JSON parameter, which SQLite would have to parse and unescape again.

use super::Tx;
use super::db::{self, Arg};

/// The most rows in one statement (256 × 10 columns stays far below SQLite's 32766 parameters).
const MAX_ROWS: usize = 256;

/// `rows` cut into chunks whose sizes are powers of two, largest first.
pub fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rest.len().min(MAX_ROWS);
        let size = 1 << n.ilog2();
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// `(?, ?), (?, ?), (?, ?)`: `rows` groups of `cols` placeholders.
pub fn values(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
}

/// `?, ?, ?`: a list for `IN (…)`.
pub fn list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A statement whose text is built from one of the shapes above. The text holds
/// placeholders only, never a value, so it cannot carry an injection.
pub fn query(sql: String) -> db::Query {
    db::query(sql)
}

/// Runs `sql`, whose `{}` stands for the list of an `IN ({})`, once per chunk of `keys`,
/// each time with `lead` bound first (a parameter that comes before the list).
pub async fn execute_in<K>(
    tx: &mut Tx,
    sql: &str,
    lead: Option<i64>,
    keys: &[K],
) -> super::Result<()>
where
    K: Into<Arg> + Copy,
{
    for chunk in chunks(keys) {
        let mut q = query(sql.replace("{}", &list(chunk.len())));
        if let Some(lead) = lead {
            q = q.bind(lead);
        }
        for key in chunk {
            q = q.bind(*key);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let rows: Vec<usize> = (0..500).collect();
        let sizes: Vec<usize> = chunks(&rows).map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![256, 128, 64, 32, 16, 4]);
        assert_eq!(sizes.iter().sum::<usize>(), 500);
        assert_eq!(chunks::<u8>(&[]).count(), 0);
    }

    #[test]
    fn placeholders() {
        assert_eq!(values(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(list(3), "?, ?, ?");
    }
}
