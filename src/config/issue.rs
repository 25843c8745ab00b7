//! Config problems, each named by its YAML path, so an operator can find the line to fix.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config cannot be served.
    Error,
    /// The config works, but probably not as the operator meant.
    Warning,
}

/// One problem, e.g. ``workflows[1].stages[0].approvers[2]: no reviewer has role `sre` ``.
/// An empty path means the document as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
    pub severity: Severity,
}

impl ConfigIssue {
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, message, Severity::Error)
    }

    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, message, Severity::Warning)
    }

    fn new(path: impl Into<String>, message: impl Into<String>, severity: Severity) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            severity,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A config that cannot be used: every issue found (errors, and any warnings seen
/// along the way), plus where the config came from.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub origin: String,
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    pub fn errors(&self) -> impl Iterator<Item = &ConfigIssue> {
        self.issues.iter().filter(|i| i.is_error())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        write!(f, "{}: {n} error(s)", self.origin)?;
        for issue in self.errors() {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}
