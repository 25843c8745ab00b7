//! The tera templates, embedded in the binary: email bodies (HTML + text) and the confirmation pages.
//! `.html` templates autoescape, so agent text can never become markup; hidden characters
//! (bidi controls, zero-width) in any value are written out as `<U+XXXX>` first.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use tera::{Context, Tera};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "email/context.html",
    "email/context.txt",
    "email/request.html",
    "email/request.txt",
    "email/outcome.html",
    "email/outcome.txt",
    "pages/layout.html",
    "pages/context.html",
    "pages/confirm.html",
    "pages/result.html",
    "pages/error.html",
];

/// The pages' stylesheet. It is inlined in a `<style>` element that the
/// Content-Security-Policy allows by hash, so pages load nothing from outside.
pub const PAGE_CSS: &str = include_str!("../../../templates/pages/style.css");

static TERA: LazyLock<Result<Tera, String>> = LazyLock::new(|| {
    let mut tera = Tera::default();
    tera.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(|e| chain(&e))?;
    Ok(tera)
});

#[derive(Debug, Clone, thiserror::Error)]
#[error("rendering {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// Renders `name` with `context` (a JSON object).
pub fn render(name: &str, context: &Value) -> Result<String, RenderError> {
    let fail = |message: String| RenderError {
        template: name.to_owned(),
        message,
    };
    let tera = TERA.as_ref().map_err(|e| fail(e.clone()))?;
    // Every value a template shows passes here, agent text included: one place to reveal.
    let mut context = context.clone();
    crate::domain::display::reveal_json(&mut context);
    let context = Context::from_value(context).map_err(|e| fail(chain(&e)))?;
    tera.render(name, &context).map_err(|e| fail(chain(&e)))
}

/// The CSP source that allows exactly the inlined stylesheet.
pub fn style_source() -> String {
    let hash = Sha256::digest(PAGE_CSS.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Tera puts the useful part of an error in its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
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
        assert!(render("pages/error.html", &serde_json::json!([1])).is_err());
    }
}
