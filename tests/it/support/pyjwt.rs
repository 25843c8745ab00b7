//! An independent receipt verifier: Python's PyJWT (and `rfc8785` for the payload hash)
//! running the very snippet of README.md's "Executor" section, so the tests trust neither
//! our signing code nor a snippet nobody ran. `.ci/run` installs both packages.

use serde_json::{Value, json};
use tokio::process::Command;

/// What the snippet concluded: the claims, or the Python exception's name and message.
#[derive(Debug)]
pub enum Verdict {
    Valid(Value),
    Refused { error: String, message: String },
}

impl Verdict {
    pub fn claims(self) -> Value {
        match self {
            Self::Valid(claims) => claims,
            Self::Refused { error, message } => panic!("PyJWT refused: {error}: {message}"),
        }
    }

    /// The exception's name, for a refusal.
    pub fn refusal(self) -> String {
        match self {
            Self::Valid(claims) => panic!("PyJWT accepted what it should refuse: {claims}"),
            Self::Refused { error, message } => format!("{error}: {message}"),
        }
    }
}

/// What the executor knows: where the keys are, who it is, whom it trusts.
pub struct Executor {
    pub jwks_url: String,
    pub agent_id: String,
    pub issuer: String,
}

impl Executor {
    /// `read_receipt(token, …)`: signature, `exp`, `aud`, `iss`.
    pub async fn read(&self, token: &str) -> Verdict {
        self.run(json!({"token": token})).await
    }

    /// `read_receipt` then `check_before_running(claims, payload)`.
    pub async fn check(&self, token: &str, payload: &Value) -> Verdict {
        self.run(json!({"token": token, "payload": payload})).await
    }

    /// Asynchronous: the snippet fetches the JWK Set from a server on this test's runtime.
    async fn run(&self, mut args: Value) -> Verdict {
        args["jwks_url"] = json!(self.jwks_url);
        args["agent_id"] = json!(self.agent_id);
        args["issuer"] = json!(self.issuer);
        let script = format!("{}\n{DRIVER}", readme_snippet());
        let out = Command::new("python3")
            .args(["-c", &script, &args.to_string()])
            .output()
            .await
            .expect("python3 must be installed to verify receipts independently");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("ModuleNotFoundError"),
            "pip install \"pyjwt[crypto]\" rfc8785 (see .ci/run): {stderr}"
        );
        assert!(out.status.success(), "the snippet crashed: {stderr}");
        let answer: Value = serde_json::from_slice(&out.stdout).expect("the driver prints JSON");
        match answer.get("claims") {
            Some(claims) => Verdict::Valid(claims.clone()),
            None => Verdict::Refused {
                error: answer["error"].as_str().unwrap_or_default().to_owned(),
                message: answer["message"].as_str().unwrap_or_default().to_owned(),
            },
        }
    }
}

/// Calls the snippet's two functions with the test's arguments; prints one JSON answer.
const DRIVER: &str = r#"
import json, sys
_args = json.loads(sys.argv[1])
try:
    _claims = read_receipt(_args["token"], jwks_url=_args["jwks_url"],
                           agent_id=_args["agent_id"], issuer=_args["issuer"])
    if "payload" in _args:
        check_before_running(_claims, _args["payload"])
    print(json.dumps({"claims": _claims}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"#;

/// The first ```python block after README.md's `## Executor` heading.
fn readme_snippet() -> String {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n## Executor\n")
        .nth(1)
        .expect("README.md has an `## Executor` section");
    let block = section
        .split("```python\n")
        .nth(1)
        .expect("the Executor section has a ```python block");
    block
        .split("\n```")
        .next()
        .expect("the python block ends")
        .to_owned()
}
