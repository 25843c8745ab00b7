//! `countersign receipt verify` (part of the binary, not the library): checks a receipt
//! offline as an executor would, against a JWK Set from a file, a URL or this deployment.

use anyhow::Context;
use countersign::config::Config;
use countersign::signing::receipts::{self, Verifier};
use countersign::store::Store;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A served JWK Set is small; a larger answer is not one.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where the verifying keys come from.
pub enum Keys {
    /// `--jwks`: an `http(s)://` URL or a file.
    Jwks(String),
    /// This deployment's keys: its config, or the key its database keeps.
    Deployment(Box<Config>),
}

/// Exit 0 printing the claims when every check holds; 1 with one line naming what failed.
pub async fn run(token: &str, payload: Option<&Path>, keys: Keys) -> anyhow::Result<ExitCode> {
    let token = read_token(token)?;
    let payload = match payload {
        Some(path) => Some(read_payload(path)?),
        None => None,
    };
    let jwks = match keys {
        Keys::Jwks(source) => fetch_jwks(&source).await?,
        Keys::Deployment(config) => {
            let store = Store::open(&config.server.database)
                .await
                .context("opening the database")?;
            serde_json::to_value(receipts::existing(&config.server, &store).await?.jwks())?
        }
    };
    let verifier = Verifier::from_jwks(&jwks).map_err(anyhow::Error::msg)?;
    let now = chrono::Utc::now().timestamp();
    let checked = verifier.verify(&token, now).and_then(|claims| {
        if let Some(payload) = &payload {
            receipts::check_payload(&claims, payload)?;
        }
        Ok(claims)
    });
    match checked {
        Ok(claims) => {
            // A closed pipe (`| head`) is the reader's choice, not a failure to panic on.
            let _ = writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&claims)?
            );
            eprintln!(
                "receipt valid: signature, exp{}",
                if payload.is_some() {
                    ", payload_sha256"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("receipt NOT valid: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `-` reads the token from stdin (receipts are long for a command line).
fn read_token(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .context("reading the token from stdin")?;
    Ok(text.trim().to_owned())
}

fn read_payload(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}

async fn fetch_jwks(source: &str) -> anyhow::Result<Value> {
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let path = PathBuf::from(source);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a JSON JWK Set", path.display()));
    }
    countersign::app::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(source)
        .send()
        .await
        .with_context(|| format!("fetching {source}"))?;
    if !response.status().is_success() {
        anyhow::bail!("fetching {source}: HTTP {}", response.status());
    }
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading {source}"))?;
    if body.len() > MAX_JWKS_BYTES {
        anyhow::bail!("{source} answered more than {MAX_JWKS_BYTES} bytes");
    }
    serde_json::from_slice(&body).with_context(|| format!("{source} is not a JSON JWK Set"))
}
