//! The reviewer's Slack App Home tab: what waits for them, newest first, each request
//! with its message's summary and buttons. Pure: rendered from the queue as it is when
//! the publish is delivered.

use super::blocks::{self, View};
use super::kit;
use super::mrkdwn::{self, escape};
use crate::config::Config;
use crate::domain::{Directory, Escalation, Time};
use slack_morphism::prelude::*;
use std::collections::HashMap;

/// Requests listed at most: a header, a count and a closing note, then at most six
/// blocks per request (five and a divider) stay under the 100 blocks of a view.
pub const ITEMS: usize = 16;

/// What a reviewer's Home view is rendered from.
pub struct Queue<'a> {
    pub config: &'a Config,
    pub dir: &'a Directory,
    /// The reviewer's name, as configured.
    pub name: &'a str,
    /// The newest requests waiting on them, newest first (at most [`ITEMS`] are shown).
    pub items: &'a [Escalation],
    /// How many wait in all.
    pub total: u64,
    pub slack_ids: &'a HashMap<String, String>,
    pub now: Time,
}

pub fn render(q: &Queue<'_>) -> SlackView {
    let mut out = vec![
        kit::header("countersign: your queue"),
        kit::context(&[format!(
            "Requests waiting for your review, newest first · {} · updated {}",
            waiting(q.total),
            mrkdwn::date(q.now)
        )]),
        kit::divider(),
    ];
    if q.items.is_empty() {
        out.push(kit::section(&format!(
            ":white_check_mark: Nothing waits for you, {}. New requests appear here and in your direct messages.",
            escape(q.name)
        )));
    }
    for esc in q.items.iter().take(ITEMS) {
        let view = View {
            esc,
            config: q.config,
            dir: q.dir,
            recent: &[],
            slack_ids: q.slack_ids,
        };
        out.extend(blocks::home_item(&view));
        out.push(kit::divider());
    }
    let shown = q.items.len().min(ITEMS) as u64;
    if q.total > shown {
        out.push(kit::section(&format!(
            "_…and {} more — see {}_",
            q.total - shown,
            mrkdwn::link(&ui_url(q.config), "/ui", 40)
        )));
    }
    home(out)
}

/// The Home view of a Slack user who is not a configured reviewer: says so, shows nothing.
pub fn unknown(user: &str) -> SlackView {
    home(vec![
        kit::header("countersign"),
        kit::section(&format!(
            "Your Slack account is not linked to a countersign reviewer, so there is nothing to show here. \
             Ask your countersign administrator to add your Slack user ID ({}) as `slack_user` to your reviewer entry.",
            escape(user)
        )),
    ])
}

fn home(blocks: Vec<SlackBlock>) -> SlackView {
    SlackView::Home(SlackHomeView::new(kit::fit(blocks, kit::MODAL_BLOCKS)))
}

fn waiting(n: u64) -> String {
    match n {
        0 => "none waiting".to_owned(),
        1 => "1 waiting".to_owned(),
        n => format!("{n} waiting"),
    }
}

fn ui_url(config: &Config) -> String {
    format!("{}/ui", config.server.public_url.trim_end_matches('/'))
}
