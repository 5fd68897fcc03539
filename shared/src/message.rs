//! The processing-queue message: which job to process and where its file is.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub tenant_id: String,
    pub job_id: String,
    pub object_key: String,
}
