//! `countersign simulate`: what the configuration would do with a request, printed for an
//! operator (or as the JSON of `POST /v1/simulate`). Reads the config and the request file
//! only; no database is opened.

use anyhow::{Context, bail};
use countersign::config::Config;
use countersign::domain::policy::Subject;
use countersign::domain::simulation::Simulation;
use countersign::domain::{AgentId, EscalationRequest};
use std::fmt::Write as _;
use std::path::Path;

/// Simulates the request in `file` as `agent` would send it, now.
pub fn run(config: &Config, agent: Option<&str>, file: &Path, json: bool) -> anyhow::Result<()> {
    let agent = pick_agent(config, agent)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let body = countersign::http::strict_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    let now = chrono::Utc::now();
    let request = EscalationRequest::parse(body.clone(), now)
        .map_err(|e| anyhow::anyhow!("{} is not a valid request: {e}", file.display()))?;
    let subject = Subject::of(&agent, &request, &body);
    let dir = config.directory();
    let sim = config.simulate(&subject, &request, &dir, now);
    if json {
        println!("{}", serde_json::to_string_pretty(&sim)?);
    } else {
        print!("{}", text(&sim, &agent));
    }
    Ok(())
}

/// `--agent`, or the only agent of the config.
fn pick_agent(config: &Config, agent: Option<&str>) -> anyhow::Result<AgentId> {
    if let Some(id) = agent {
        return match config.agent(id) {
            Some(a) => Ok(a.id.clone()),
            None => bail!("no agent has id `{id}`"),
        };
    }
    match config.agents.as_slice() {
        [only] => Ok(only.id.clone()),
        agents => {
            let ids: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
            bail!(
                "say which agent sends the request: --agent <{}>",
                ids.join("|")
            )
        }
    }
}

/// The readable report.
fn text(sim: &Simulation, agent: &AgentId) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "as agent {agent}, at {}", stamp(sim.now));
    for s in &sim.skipped {
        let _ = writeln!(w, "  skipped {}: {}", s.workflow, s.failed);
    }
    let Some(workflow) = &sim.workflow else {
        let _ = writeln!(
            w,
            "no workflow matches: intake would refuse it (422 no_workflow)"
        );
        return out;
    };
    let _ = writeln!(w, "workflow: {workflow}");
    if let Some(auto) = sim.auto {
        let outcome = auto.outcome().status().as_str();
        let _ = writeln!(
            w,
            "decided at intake: {outcome} by policy:{workflow}, nobody is asked"
        );
    }
    for st in &sim.stages {
        let _ = writeln!(
            w,
            "stage {} ({}): {} approval(s) from {}",
            st.stage,
            st.name,
            st.required_approvals,
            list(&st.eligible)
        );
        for j in &st.joins {
            let _ = writeln!(
                w,
                "  + after {} ({}): {}",
                j.after,
                j.why,
                list(&j.reviewers)
            );
        }
        for x in &st.excluded {
            let _ = writeln!(w, "  - {}: {}", x.reviewer, x.reason);
        }
    }
    let _ = writeln!(w, "timeline:");
    for m in &sim.timeline {
        let at =
            m.at.map_or_else(String::new, |t| format!(" = {}", stamp(t)));
        let _ = writeln!(w, "  {} + {}{at}: {}", m.from, m.offset, m.what);
    }
    // An automatic decision notifies nobody: no channel line to read as "nobody is told".
    if sim.auto.is_none() {
        let _ = writeln!(w, "channels: {}", list(&sim.channels));
    }
    for n in &sim.notes {
        let _ = writeln!(w, "note: {n}");
    }
    out
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "nobody".into()
    } else {
        items.join(", ")
    }
}

fn stamp(t: countersign::domain::Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
