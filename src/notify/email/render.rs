//! The email templates (HTML + text), embedded in the binary; rendered through
//! [`view::render`](crate::view::render), which reveals hidden characters.

use crate::view::render::{self as templates, RenderError, Sources};
use serde::Serialize;
use std::sync::LazyLock;
use tera::Tera;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const TEMPLATES: Sources = templates![
    "email/context.html",
    "email/context.txt",
    "email/request.html",
    "email/request.txt",
    "email/revision.html",
    "email/revision.txt",
    "email/outcome.html",
    "email/outcome.txt",
    "email/after.html",
    "email/after.txt",
    "email/execution.html",
    "email/execution.txt",
    "email/sign_in.html",
    "email/sign_in.txt",
    "email/alert.html",
    "email/alert.txt",
];

static TERA: LazyLock<Result<Tera, String>> = LazyLock::new(|| templates::environment(TEMPLATES));

/// Renders `name` with `context` (a JSON object).
pub fn render(name: &str, context: &impl Serialize) -> Result<String, RenderError> {
    templates::render(&TERA, name, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        if let Err(e) = TERA.as_ref() {
            panic!("templates do not parse: {e}");
        }
    }

    #[test]
    fn a_missing_value_is_an_error_not_a_panic() {
        assert!(render("email/request.html", &serde_json::json!({})).is_err());
        assert!(render("no/such.html", &serde_json::json!({})).is_err());
        assert!(render("email/outcome.txt", &serde_json::json!([1])).is_err());
    }
}
