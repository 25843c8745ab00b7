//! Request bodies the tests send and the ids they read back.

use serde_json::{Value, json};

/// An escalation with every context field filled, as reviewers see one in a channel.
/// Its requester (dana) is nobody's reviewer, so the requester rule refuses no one.
pub fn rich(intent: &str, summary: &str) -> Value {
    json!({
        "intent": intent,
        "summary": summary,
        "payload": {"service": "api", "version": "2.3.1", "replicas": 6},
        "resource": "k8s://prod/api",
        "risk": {"score": 95, "reasons": ["Production change outside the change window"]},
        "policy": {"id": "prod-deploy", "reason": "Production deploys need approval"},
        "requested_by": "dana@example.com",
        "context": {
            "recent_activity": [{"at": "2026-11-21T10:00:00Z", "summary": "Deployed api v2.3.0 to staging"}],
            "evidence": [{"label": "CI run", "url": "https://ci.example.com/runs/1"}]
        }
    })
}

/// The `id` of a status document.
pub fn id_of(doc: &Value) -> String {
    doc["id"].as_str().expect("id").to_owned()
}
