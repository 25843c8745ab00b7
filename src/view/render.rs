//! Embedded tera environments (emails, pages) and the one way they render: every value a
//! template shows has its hidden characters (bidi controls, zero-width) written out as
//! `<U+XXXX>` first, and `.html` templates autoescape, so agent text never becomes markup.

use serde::Serialize;
use tera::{Context, Tera};

/// `(name, source)` pairs, embedded with `include_str!`.
pub type Sources = &'static [(&'static str, &'static str)];

#[derive(Debug, Clone, thiserror::Error)]
#[error("rendering {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// Parses every template once; an error names the template and what is wrong.
pub fn environment(sources: Sources) -> Result<Tera, String> {
    let mut tera = Tera::default();
    tera.add_raw_templates(sources.iter().copied())
        .map_err(|e| chain(&e))?;
    Ok(tera)
}

/// Renders `name` from `tera` with `context`, which must serialize to a JSON object.
pub fn render(
    tera: &Result<Tera, String>,
    name: &str,
    context: &impl Serialize,
) -> Result<String, RenderError> {
    let fail = |message: String| RenderError {
        template: name.to_owned(),
        message,
    };
    let tera = tera.as_ref().map_err(|e| fail(e.clone()))?;
    let mut context = serde_json::to_value(context).map_err(|e| fail(e.to_string()))?;
    // Every value a template shows passes here, agent text included: one place to reveal.
    crate::domain::display::reveal_json(&mut context);
    let context = Context::from_value(context).map_err(|e| fail(chain(&e)))?;
    tera.render(name, &context).map_err(|e| fail(chain(&e)))
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
