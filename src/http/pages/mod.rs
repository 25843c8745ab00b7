//! Web pages: the tera environment for pages, the page layout (one inlined stylesheet)
//! and the security headers every page is served with. Handlers (`links`) decide what
//! to show; this module turns a template and its context into a [`Page`].

mod headers;
pub mod vote_form;

pub use headers::secure_headers;

use crate::view::render::{self as templates, RenderError, Sources};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;
use tera::Tera;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const TEMPLATES: Sources = templates![
    "pages/layout.html",
    "pages/context.html",
    "pages/after.html",
    "pages/confirm.html",
    "pages/vote_fields.html",
    "pages/revision.html",
    "pages/result.html",
    "pages/error.html",
    "pages/ui/nav.html",
    "pages/ui/login.html",
    "pages/ui/sent.html",
    "pages/ui/confirm_sign_in.html",
    "pages/ui/notice.html",
    "pages/ui/queue.html",
    "pages/ui/escalation.html",
    "pages/ui/bars.html",
    "pages/ui/insights.html",
];

/// The pages' stylesheet. The layout inlines it in a `<style>` element that the
/// Content-Security-Policy allows by hash, so pages load nothing from outside.
const CSS: &str = include_str!("../../../templates/pages/style.css");

static TERA: LazyLock<Result<Tera, String>> = LazyLock::new(|| templates::environment(TEMPLATES));

/// An HTML page and its status.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let content_type = HeaderValue::from_static("text/html; charset=utf-8");
        (
            self.status,
            [(header::CONTENT_TYPE, content_type)],
            self.html,
        )
            .into_response()
    }
}

/// The layout's own values beside the page's context.
#[derive(Serialize)]
struct Layout<'a, C: Serialize> {
    css: &'static str,
    #[serde(flatten)]
    page: &'a C,
}

/// `template` (which extends `pages/layout.html`) with `context`; a page that cannot be
/// rendered is logged and becomes a plain 500 page.
pub fn render(template: &str, context: &impl Serialize, status: StatusCode) -> Page {
    match render_html(template, context) {
        Ok(html) => Page { status, html },
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            Page {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                html: "<!DOCTYPE html><title>Error</title><p>Something went wrong on our side; nothing was changed.</p>".into(),
            }
        }
    }
}

fn render_html(template: &str, context: &impl Serialize) -> Result<String, RenderError> {
    let layout = Layout {
        css: CSS,
        page: context,
    };
    templates::render(&TERA, template, &layout)
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
    fn a_page_that_cannot_render_is_a_500_without_details() {
        let page = render("pages/error.html", &serde_json::json!({}), StatusCode::OK);
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!page.html.contains("pages/error.html"));
        let page = render(
            "pages/error.html",
            &serde_json::json!({"title": "T", "message": "M", "esc": null}),
            StatusCode::GONE,
        );
        assert_eq!(page.status, StatusCode::GONE);
        assert!(page.html.contains(CSS.lines().next().unwrap_or_default()));
    }
}
