//! How many connections the process can hold: the soft file-descriptor limit, read
//! from `/proc/self/limits` (Linux), minus what the database, logs and outbound calls need.

/// File descriptors kept for everything that is not an inbound connection.
pub const SPARE: usize = 64;

/// The soft limit on open files, when the platform tells us.
pub fn soft_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_soft_limit(&text)
}

/// The "Max open files" row's soft column; `unlimited` is no limit.
fn parse_soft_limit(limits: &str) -> Option<usize> {
    let row = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = row
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// Connections the process may accept: `wanted` unless the fd limit is lower.
pub fn budget(wanted: usize, soft_limit: Option<usize>) -> usize {
    match soft_limit {
        Some(limit) => wanted.min(limit.saturating_sub(SPARE)).max(1),
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63455                63455                processes \n\
                    Max open files            200                  524288               files     \n";
        assert_eq!(parse_soft_limit(text), Some(200));
        assert_eq!(
            parse_soft_limit("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(parse_soft_limit(""), None);
    }

    #[test]
    fn the_budget_leaves_spare_descriptors() {
        assert_eq!(budget(1024, Some(200)), 200 - SPARE);
        assert_eq!(budget(100, Some(20_000)), 100);
        assert_eq!(budget(100, None), 100);
        assert_eq!(budget(100, Some(10)), 1);
    }
}
