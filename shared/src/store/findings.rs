//! Findings per (tenant, finding uid): latest state wins, with first/last seen, the
//! ingestion that last touched them and the delta against the state before it.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use super::counts::Checkpoints;
use super::item::{n, opt_n, opt_s, put_opt, query_count, s, Item};
use super::{batch, StoreError};

const BATCH_GET_MAX: usize = 100;

#[derive(Clone, Debug)]
pub struct FindingsStore {
    pub(super) client: Client,
    pub(super) table: String,
    /// Where the findings-count checkpoint is kept (the jobs table).
    pub(super) checkpoints: Checkpoints,
}

/// Keys-only index of the findings by tenant and `first_seen_at`: written once per new
/// finding (a re-ingestion keeps `first_seen_at`, so the index is not touched), it lets
/// the tenant's findings be counted without reading them all (see docs/read-api.md).
pub const FIRST_SEEN_INDEX: &str = "by_first_seen";

/// The attribute holding a finding's [`StoredFindingState`] as one JSON array, written with
/// every finding beside the attributes it repeats. The processor looks up the stored state
/// of each finding it ingests and reads only this attribute and the key: reading one
/// attribute instead of seven is what the lookup's time depends on in moto (0.28 instead
/// of 0.99 ms per item, BENCHMARKS.md), and on DynamoDB it makes the answers smaller.
pub const LOOKUP_STATE: &str = "lookup_state";

/// What the processor needs to know about a finding already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFindingState {
    pub first_seen_at: String,
    pub status_code: Option<String>,
    pub severity: Option<String>,
    pub ingestion_id: Option<String>,
    pub delta: Option<String>,
    /// Position of the record in the file of `ingestion_id`.
    pub record_index: Option<u64>,
}

impl StoredFindingState {
    /// `[first_seen_at, status_code, severity, ingestion_id, delta, record_index]`.
    fn encode(&self) -> String {
        serde_json::to_string(&(
            &self.first_seen_at,
            &self.status_code,
            &self.severity,
            &self.ingestion_id,
            &self.delta,
            self.record_index,
        ))
        .expect("strings and numbers serialize")
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        type Fields = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
        );
        let (first_seen_at, status_code, severity, ingestion_id, delta, record_index) =
            serde_json::from_str::<Fields>(text).map_err(|e| {
                StoreError::Corrupt(format!("attribute {LOOKUP_STATE} is not a state: {e}"))
            })?;
        Ok(Self {
            first_seen_at,
            status_code,
            severity,
            ingestion_id,
            delta,
            record_index,
        })
    }
}

/// One finding to store.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingWrite {
    pub uid: String,
    pub severity: String,
    pub status_code: Option<String>,
    pub provider: Option<String>,
    pub account_uid: Option<String>,
    pub region: Option<String>,
    pub check_id: Option<String>,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub ingestion_id: String,
    /// Position of the record in the ingestion's file (finds duplicates within a file).
    pub record_index: u64,
    pub delta: &'static str,
    /// Where the original record's bytes are.
    pub raw: RawRef,
}

impl FindingWrite {
    /// The state a later ingestion will read back (see [`LOOKUP_STATE`]).
    fn lookup_state(&self) -> String {
        StoredFindingState {
            first_seen_at: self.first_seen_at.clone(),
            status_code: self.status_code.clone(),
            severity: Some(self.severity.clone()),
            ingestion_id: Some(self.ingestion_id.clone()),
            delta: Some(self.delta.to_string()),
            record_index: Some(self.record_index),
        }
        .encode()
    }
}

/// Where a finding's original record is kept: a byte range of an S3 object (the uploaded
/// file itself when it is plain JSON; an object of its batch when the upload was gzip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRef {
    pub key: String,
    pub offset: u64,
    pub len: u64,
}

pub(super) fn pk(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}")
}

/// DynamoDB's limit on a sort key, in bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// `FINDING#<uid>`. A uid may be 1024 characters, up to 4 KiB of UTF-8, more than a sort
/// key holds: a key that would be too long keeps the uid's first bytes (at a character
/// boundary) and ends with the SHA-256 of the whole uid, so it is still unique and still
/// sorts by the uid's beginning.
pub(super) fn sk(uid: &str) -> String {
    let key = format!("FINDING#{uid}");
    if key.len() <= MAX_SORT_KEY_BYTES {
        return key;
    }
    let digest = Sha256::digest(uid.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = MAX_SORT_KEY_BYTES - "FINDING#".len() - 1 - hex.len();
    while !uid.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("FINDING#{}#{hex}", &uid[..cut])
}

impl FindingsStore {
    pub fn new(client: Client, table: &str, checkpoint_table: &str) -> Self {
        Self {
            checkpoints: Checkpoints {
                client: client.clone(),
                table: checkpoint_table.to_string(),
            },
            client,
            table: table.to_string(),
        }
    }

    /// The stored state of each of `uids` that exists.
    ///
    /// Reads only the key and [`LOOKUP_STATE`] of each item. An item written before that
    /// attribute existed has none (and one whose attribute cannot be read is treated
    /// alike): its state is then read from its separate attributes.
    pub async fn states(
        &self,
        tenant_id: &str,
        uids: &[&str],
    ) -> Result<HashMap<String, StoredFindingState>, StoreError> {
        let mut found = HashMap::new();
        // BatchGetItem refuses a request that names a key twice.
        let mut uids = uids.to_vec();
        uids.sort_unstable();
        uids.dedup();
        for chunk in uids.chunks(BATCH_GET_MAX) {
            let by_sk: HashMap<String, &str> = chunk.iter().map(|uid| (sk(uid), *uid)).collect();
            let mut legacy = Vec::new();
            for item in self
                .get_batch(tenant_id, by_sk.keys(), "sk, #state")
                .await?
            {
                let Some(uid) = item
                    .get("sk")
                    .and_then(|k| k.as_s().ok())
                    .and_then(|k| by_sk.get(k))
                else {
                    continue;
                };
                let state = match item.get(LOOKUP_STATE) {
                    Some(AttributeValue::S(state)) => StoredFindingState::decode(state),
                    Some(_) => Err(StoreError::Corrupt(format!(
                        "{LOOKUP_STATE} is not a string"
                    ))),
                    None => {
                        legacy.push(sk(uid));
                        continue;
                    }
                };
                match state {
                    Ok(state) => {
                        found.insert(uid.to_string(), state);
                    }
                    // The separate attributes hold the same state.
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a finding's separate attributes instead");
                        legacy.push(sk(uid));
                    }
                }
            }
            if legacy.is_empty() {
                continue;
            }
            for item in self
                .get_batch(
                    tenant_id,
                    legacy.iter(),
                    "uid, first_seen_at, status_code, severity, ingestion_id, delta, record_index",
                )
                .await?
            {
                if let Some(uid) = opt_s(&item, "uid") {
                    found.insert(
                        uid,
                        StoredFindingState {
                            first_seen_at: opt_s(&item, "first_seen_at").unwrap_or_default(),
                            status_code: opt_s(&item, "status_code"),
                            severity: opt_s(&item, "severity"),
                            ingestion_id: opt_s(&item, "ingestion_id"),
                            delta: opt_s(&item, "delta"),
                            record_index: opt_n(&item, "record_index")?,
                        },
                    );
                }
            }
        }
        Ok(found)
    }

    /// The items of up to [`BATCH_GET_MAX`] sort keys that exist (consistent reads), with
    /// the attributes of `projection` (where `#state` stands for [`LOOKUP_STATE`]).
    async fn get_batch(
        &self,
        tenant_id: &str,
        sort_keys: impl Iterator<Item = &String>,
        projection: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let keys = sort_keys
            .map(|key| Item::from([("pk".into(), s(pk(tenant_id))), ("sk".into(), s(key))]))
            .collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .projection_expression(projection);
        if projection.contains("#state") {
            request = request.expression_attribute_names("#state", LOOKUP_STATE);
        }
        let mut request = request
            .build()
            .map_err(|e| StoreError::build("BatchGetItem findings", e))?;
        let mut items = Vec::new();
        for attempt in 0..batch::MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(batch::backoff(attempt)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| StoreError::aws("BatchGetItem findings", e))?;
            items.extend(
                output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.keys.is_empty() => request = rest,
                _ => return Ok(items),
            }
        }
        Err(StoreError::Aws {
            operation: "BatchGetItem findings",
            message: format!(
                "{} keys still unprocessed after {} attempts",
                request.keys.len(),
                batch::MAX_ATTEMPTS
            ),
        })
    }

    pub async fn put(
        &self,
        tenant_id: &str,
        findings: Vec<FindingWrite>,
    ) -> Result<(), StoreError> {
        let items = findings
            .into_iter()
            .map(|f| {
                let state = f.lookup_state();
                let mut item = Item::from([
                    ("pk".to_string(), s(pk(tenant_id))),
                    ("sk".to_string(), s(sk(&f.uid))),
                    ("uid".to_string(), s(f.uid)),
                    ("severity".to_string(), s(f.severity)),
                    ("first_seen_at".to_string(), s(f.first_seen_at)),
                    ("last_seen_at".to_string(), s(f.last_seen_at)),
                    ("ingestion_id".to_string(), s(f.ingestion_id)),
                    ("delta".to_string(), s(f.delta)),
                    ("record_index".to_string(), n(f.record_index)),
                    (LOOKUP_STATE.to_string(), s(state)),
                    ("raw_key".to_string(), s(f.raw.key)),
                    ("raw_at".to_string(), n(f.raw.offset)),
                    ("raw_len".to_string(), n(f.raw.len)),
                ]);
                put_opt(&mut item, "status_code", f.status_code.map(s));
                put_opt(&mut item, "provider", f.provider.map(s));
                put_opt(&mut item, "account_uid", f.account_uid.map(s));
                put_opt(&mut item, "region", f.region.map(s));
                put_opt(&mut item, "check_id", f.check_id.map(s));
                item
            })
            .collect();
        batch::put_all(&self.client, &self.table, items).await
    }

    /// How many findings the tenant has (a Query with COUNT; for tests and admin use).
    pub async fn count(&self, tenant_id: &str) -> Result<u64, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk(tenant_id)));
        query_count(query, "Query findings count").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_fit_dynamodb_whatever_the_uid() {
        assert_eq!(sk("u-1"), "FINDING#u-1");
        let ascii = "a".repeat(1016);
        assert_eq!(sk(&ascii), format!("FINDING#{ascii}"));
        for uid in [
            "a".repeat(1017),
            "é".repeat(1024),
            "✓".repeat(1024),
            "𝄞".repeat(1024),
        ] {
            let key = sk(&uid);
            assert!(key.len() <= MAX_SORT_KEY_BYTES, "{} bytes", key.len());
            let start: String = uid.chars().take(200).collect();
            assert!(key.starts_with(&format!("FINDING#{start}")));
        }
        // Long uids that share their first kilobyte still get keys of their own.
        let (a, b) = ("x".repeat(1020) + "a", "x".repeat(1020) + "b");
        assert_ne!(sk(&a), sk(&b));
    }

    #[test]
    fn lookup_state_reads_back_what_was_written() {
        for state in [
            StoredFindingState {
                first_seen_at: "2026-12-05T01:02:03.123456Z".into(),
                status_code: Some("FAIL \"quoted\" | ünïcode".into()),
                severity: Some("critical".into()),
                ingestion_id: Some("0193a0b0-1c2d-7e8f-9a0b-1c2d3e4f5a6b".into()),
                delta: Some("new".into()),
                record_index: Some(u64::MAX),
            },
            StoredFindingState {
                first_seen_at: String::new(),
                status_code: None,
                severity: None,
                ingestion_id: None,
                delta: None,
                record_index: None,
            },
        ] {
            assert_eq!(StoredFindingState::decode(&state.encode()).unwrap(), state);
        }
        for broken in ["", "[]", "{}", "[\"a\", null, null, null, null, -1]"] {
            assert!(matches!(
                StoredFindingState::decode(broken),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
