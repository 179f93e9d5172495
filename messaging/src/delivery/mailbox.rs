//! The local mailbox folder: without SMTP or providers configured, every message is written
//! here (`.eml` for email, `.json` for SMS and push) so a developer can read it.

use std::path::PathBuf;

use serde::Serialize;
use uuid::Uuid;

use super::SendFailure;

#[derive(Debug, Clone)]
pub struct MailboxDir {
    dir: PathBuf,
}

impl MailboxDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Writes a formatted email as `<notification id>.eml`.
    pub async fn write_email(&self, notification: Uuid, email: &[u8]) -> Result<(), SendFailure> {
        self.write(&format!("{notification}.eml"), email).await
    }

    /// Writes the JSON a provider would have received as `<notification id>-<n>.<kind>.json`.
    pub async fn write_json(
        &self,
        notification: Uuid,
        index: usize,
        kind: &str,
        payload: &impl Serialize,
    ) -> Result<(), SendFailure> {
        let bytes = serde_json::to_vec_pretty(payload)
            .map_err(|_| SendFailure::temporary("mailbox: cannot encode the message"))?;
        self.write(&format!("{notification}-{index}.{kind}.json"), &bytes)
            .await
    }

    /// Writes under a temporary name and renames, so readers never see half a message.
    async fn write(&self, name: &str, bytes: &[u8]) -> Result<(), SendFailure> {
        let failed =
            |e: std::io::Error| SendFailure::temporary(format!("mailbox folder: {}", e.kind()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(failed)?;
        let partial = self.dir.join(format!(".{name}.partial"));
        tokio::fs::write(&partial, bytes).await.map_err(failed)?;
        tokio::fs::rename(&partial, self.dir.join(name))
            .await
            .map_err(failed)
    }
}
