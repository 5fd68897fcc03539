//! What arrives on the processing queue: the upload function's job message, or S3's
//! event notification for a file uploaded through a presigned URL.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Objects under this prefix are presigned uploads: their arrival starts processing.
pub const PRESIGNED_PREFIX: &str = "uploads/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub tenant_id: String,
    pub job_id: String,
    pub object_key: String,
}

/// Where a presigned upload for a job is stored.
pub fn presigned_object_key(tenant_id: &str, job_id: &str) -> String {
    format!("{PRESIGNED_PREFIX}{tenant_id}/{job_id}.json")
}

/// Where the processor keeps the original records of one batch of a gzip-compressed
/// upload (a plain upload's records are read from the upload itself): gzip-compressed
/// too, as [`is_compressed_raw_key`] tells readers. Objects written before compression
/// end in `.json` and are plain.
pub fn raw_batch_key(tenant_id: &str, job_id: &str, first_index: u64) -> String {
    format!("raw/{tenant_id}/{job_id}/{first_index:012}.json.gz")
}

/// Whether a finding's raw record offsets are into the inflated content of a
/// gzip-compressed object rather than the object's own bytes.
pub fn is_compressed_raw_key(key: &str) -> bool {
    key.starts_with("raw/") && key.ends_with(".json.gz")
}

/// The jobs a queue message asks for: one for a job message, one per created object for
/// an S3 notification, none for anything else (such as S3's `s3:TestEvent`).
pub fn jobs_in_message(body: &str) -> Vec<JobMessage> {
    if let Ok(message) = serde_json::from_str::<JobMessage>(body) {
        return vec![message];
    }
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["eventName"]
                .as_str()
                .is_some_and(|n| n.starts_with("ObjectCreated:"))
        })
        .filter_map(|r| r["s3"]["object"]["key"].as_str())
        .filter_map(|key| job_of_presigned_key(&decode_key(key)))
        .collect()
}

/// `uploads/<tenant>/<job>.json` → the job it belongs to.
fn job_of_presigned_key(key: &str) -> Option<JobMessage> {
    let rest = key.strip_prefix(PRESIGNED_PREFIX)?.strip_suffix(".json")?;
    let (tenant_id, job_id) = rest.rsplit_once('/')?;
    if tenant_id.is_empty() || job_id.is_empty() {
        return None;
    }
    Some(JobMessage {
        tenant_id: tenant_id.to_string(),
        job_id: job_id.to_string(),
        object_key: key.to_string(),
    })
}

/// S3 notifications URL-encode object keys (a space becomes `+`).
fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&key[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_processors_own_batch_objects_are_read_as_compressed() {
        let key = raw_batch_key("t1", "j1", 200);
        assert_eq!(key, "raw/t1/j1/000000000200.json.gz");
        assert!(is_compressed_raw_key(&key));
        for plain in [
            "raw/t1/j1/000000000200.json",
            &presigned_object_key("t1", "j1"),
            "ingestions/t1/j1.json.gz",
        ] {
            assert!(!is_compressed_raw_key(plain), "{plain}");
        }
    }

    #[test]
    fn job_messages_round_trip() {
        let m = JobMessage {
            tenant_id: "t".into(),
            job_id: "j".into(),
            object_key: "ingestions/t/j.json".into(),
        };
        assert_eq!(
            jobs_in_message(&serde_json::to_string(&m).unwrap()),
            vec![m]
        );
    }

    #[test]
    fn s3_notifications_name_presigned_jobs_only() {
        let body = r#"{"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "uploads/acme%2Dco/0190-1.json", "size": 10}}},
            {"eventName": "ObjectCreated:CompleteMultipartUpload", "s3": {"object": {"key": "uploads/dev/0190-2.json"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "uploads/dev/0190-3.json"}}},
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "ingestions/dev/0190-4.json"}}}
        ]}"#;
        let jobs = jobs_in_message(body);
        assert_eq!(
            jobs,
            vec![
                JobMessage {
                    tenant_id: "acme-co".into(),
                    job_id: "0190-1".into(),
                    object_key: "uploads/acme-co/0190-1.json".into()
                },
                JobMessage {
                    tenant_id: "dev".into(),
                    job_id: "0190-2".into(),
                    object_key: presigned_object_key("dev", "0190-2")
                },
            ]
        );
        assert!(jobs_in_message(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).is_empty());
        assert!(jobs_in_message("not json").is_empty());
    }
}
