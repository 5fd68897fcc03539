//! The processing queue.

use aws_sdk_sqs::Client;

use super::StoreError;
use crate::message::JobMessage;

#[derive(Clone, Debug)]
pub struct JobQueue {
    client: Client,
    queue_url: String,
}

impl JobQueue {
    pub fn new(client: Client, queue_url: &str) -> Self {
        Self {
            client,
            queue_url: queue_url.to_string(),
        }
    }

    pub async fn send(&self, message: &JobMessage) -> Result<(), StoreError> {
        let body = serde_json::to_string(message)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialize message: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| StoreError::aws("SendMessage", e))?;
        Ok(())
    }
}
