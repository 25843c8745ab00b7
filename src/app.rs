//! Assembles the process: store, service, channels, HTTP server and workers, with graceful
//! shutdown and config reload.

pub mod reload;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::notify::callback::CallbackChannel;
use crate::notify::callback_guard;
use crate::notify::email::EmailChannel;
use crate::notify::slack::SlackChannel;
use crate::notify::slack::api::SlackApi;
use crate::notify::{Channel, Notifier};
use crate::service::{Live, Service, Snapshot};
use crate::signing::links::LinkKeys;
use crate::store::Store;
use crate::workers;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct App {
    pub service: Service,
    slack_api: Option<Arc<SlackApi>>,
    link_keys: Arc<LinkKeys>,
    listener: TcpListener,
    shutdown: CancellationToken,
    workers: bool,
}

/// rustls needs exactly one crypto provider; we pick ring (see stack notes). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl App {
    /// Opens and migrates the database, binds the listener and wires the channels, on a
    /// config built in-process: nothing is recorded as a `config.applied` version.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_versioned(config, None, clock).await
    }

    /// [`App::build`] on a config read from a file whose bytes hash to `sha256`: the
    /// version is recorded in the audit chain (`config.applied`) before serving.
    pub async fn build_versioned(
        mut config: Config,
        sha256: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        crate::telemetry::prometheus();
        let mut store = Store::open(&config.server.database)
            .await
            .with_context(|| "opening the database")?;
        store.migrate().await.context("migrating the database")?;
        store
            .join_replicas()
            .await
            .context("listening for other replicas")?;
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        if config.server.public_url_is_default() {
            // Links must name the port really bound (`--listen 127.0.0.1:0` included).
            config.server.override_listen(bound);
        }
        if let Some(sha256) = &sha256 {
            reload::record_applied(&store, sha256, "start", clock.now())
                .await
                .context("recording the config version")?;
        }
        // Everything derived from the file sits in one swappable snapshot (see `reload`).
        let live = Live::new(Snapshot::new(config, sha256));
        let config = live.load().config.clone();
        // Each shared piece is built once here and handed to whoever needs it.
        let link_keys = Arc::new(
            crate::notify::email::link_keys(&config, &store)
                .await
                .context("loading the link secret")?,
        );
        let receipts = Arc::new(
            crate::signing::receipts::load(&config.server, &store)
                .await
                .context("loading the receipt keys")?,
        );
        tracing::info!(kid = receipts.kid(), "receipts are signed with this key");
        let slack_api = match &config.slack {
            Some(slack) => Some(Arc::new(
                SlackApi::new(slack).context("building the Slack client")?,
            )),
            None => None,
        };
        let http = callback_guard::client(false).context("building the HTTP client")?;
        let guarded = callback_guard::client(true).context("building the HTTP client")?;
        let mut channels: Vec<Arc<dyn Channel>> =
            vec![Arc::new(CallbackChannel::new(live.clone(), http, guarded))];
        if let Some(api) = &slack_api {
            channels.push(Arc::new(SlackChannel::new(
                api.clone(),
                live.clone(),
                store.clone(),
                store.home_reviewers().await?,
            )));
        }
        if let Some(email) = &config.email {
            channels.push(Arc::new(
                EmailChannel::new(
                    live.clone(),
                    email,
                    store.clone(),
                    clock.clone(),
                    link_keys.clone(),
                )
                .context("setting up email")?,
            ));
        }
        let service = Service::new(store, live, clock, Notifier::new(channels), receipts);
        Ok(Self {
            service,
            slack_api,
            link_keys,
            listener,
            shutdown: CancellationToken::new(),
            workers: true,
        })
    }

    /// What reloads this app's config from `source`; `read` is the config as last read
    /// from it (before command-line overrides).
    pub fn reloader(&self, source: reload::Source, read: Config) -> reload::Reloader {
        reload::Reloader::new(
            source,
            read,
            self.service.live.clone(),
            self.service.store.clone(),
            self.service.clock.clone(),
        )
    }

    /// Tests that drive `run_once` by hand turn the background loops off.
    pub fn without_workers(mut self) -> Self {
        self.workers = false;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Cancel it to stop: the server stops accepting, gives in-flight requests
    /// `server.shutdown_grace` to finish, then drops them; workers stop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        if self.workers {
            tasks.spawn(workers::timers::run(
                self.service.clone(),
                self.shutdown.clone(),
            ));
            tasks.spawn(workers::outbox::run(
                self.service.clone(),
                self.shutdown.clone(),
            ));
        }
        let router = http::router(AppState {
            service: self.service.clone(),
            slack_api: self.slack_api.clone(),
            link_keys: self.link_keys.clone(),
        });
        let limits = self.service.config.server.connections.clone();
        http::serve::serve(self.listener, router, limits, self.shutdown.clone()).await;
        self.shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}
