//! Wires notification delivery from the configuration: channels, retry policy, the worker.

use crate::config::ExposeSecret as _;
use anyhow::Context as _;
use portal_messaging::delivery::{
    self, Channels, EmailChannel, HttpProvider, RetryPolicy, SmtpSender, TextChannel,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{NotifyConfig, Provider};
use crate::state::AppState;

/// The channels the configuration names; unset ones write to the mailbox folder.
pub fn channels(config: &NotifyConfig) -> anyhow::Result<Channels> {
    let sender = delivery::parse_sender(&config.smtp_from).map_err(anyhow::Error::msg)?;
    let mut channels = Channels::local(
        config.mailbox_dir.clone(),
        sender,
        config.public_url.clone(),
    );
    if let Some(url) = &config.smtp_url {
        let smtp = SmtpSender::from_url(url.expose_secret(), config.send_timeout)
            .map_err(anyhow::Error::msg)?;
        channels.email = EmailChannel::Smtp(smtp);
    }
    channels.sms = text_channel("sms", config.sms.as_ref(), config.send_timeout)?;
    channels.push = text_channel("push", config.push.as_ref(), config.send_timeout)?;
    Ok(channels)
}

fn text_channel(
    name: &'static str,
    provider: Option<&Provider>,
    timeout: std::time::Duration,
) -> anyhow::Result<TextChannel> {
    let Some(provider) = provider else {
        return Ok(TextChannel::Mailbox);
    };
    let token = provider
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned());
    let http = HttpProvider::new(
        name,
        provider.url.expose_secret().to_owned(),
        token,
        timeout,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(TextChannel::Http(http))
}

pub fn retry_policy(config: &NotifyConfig) -> RetryPolicy {
    RetryPolicy {
        max_attempts: config.max_attempts,
        backoff_base: config.backoff,
        backoff_max: config.backoff_max,
        lease: config.lease,
        send_timeout: config.send_timeout,
        concurrency: config.concurrency,
    }
}

/// A running delivery worker; `stop` lets it finish its batch and waits for it.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Critical-result alerts' delivery and escalation, on the same channels.
    critical: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker when the configuration enables it.
    pub fn spawn(state: &AppState) -> anyhow::Result<Option<Self>> {
        let config = &state.config.notify;
        if !config.worker {
            return Ok(None);
        }
        let channels = channels(config).context("configuring notification channels")?;
        let (stop, mut stopped) = watch::channel(false);
        let mut critical_stopped = stopped.clone();
        let critical = tokio::spawn(portal_messaging::critical::run_worker(
            state.app.db.clone(),
            channels.clone(),
            config.poll,
            async move {
                let _ = critical_stopped.wait_for(|stop| *stop).await;
            },
        ));
        let task = tokio::spawn(delivery::run_worker(
            state.app.db.clone(),
            channels,
            retry_policy(config),
            config.batch_size,
            config.poll,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ));
        Ok(Some(Self {
            stop,
            task,
            critical,
        }))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "notification worker ended abnormally");
        }
        if let Err(error) = self.critical.await {
            tracing::error!(error = %error, "critical alert worker ended abnormally");
        }
    }
}
