//! Counts every AWS request the clients send (an SDK interceptor on every client) and
//! the DynamoDB capacity units they consume, computed from the items by DynamoDB's
//! item-size rules (moto does not report consumed capacity).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde::Serialize;

/// Everything counted since the last [`Counter::take`].
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// HTTP requests sent (retries included), by `Service.Operation`.
    pub requests: BTreeMap<String, u64>,
    /// DynamoDB write request units (on-demand), by operation.
    pub write_units: BTreeMap<String, u64>,
    /// DynamoDB read request units (on-demand), by operation.
    pub read_units: BTreeMap<String, f64>,
    /// Findings items written and their sizes (DynamoDB's rules).
    pub finding_items: u64,
    pub finding_item_bytes: u64,
    pub finding_item_max_bytes: u64,
    pub finding_write_units: u64,
    /// Index entries put or moved (a changed `first_seen_at` costs a delete and a put).
    pub index_write_units: u64,
}

impl Tally {
    pub fn requests_of(&self, service: &str) -> u64 {
        let prefix = format!("{service}.");
        self.requests
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn request(&self, operation: &str) -> u64 {
        self.requests.get(operation).copied().unwrap_or(0)
    }

    pub fn write_units(&self) -> u64 {
        self.write_units.values().sum()
    }

    pub fn read_units(&self) -> f64 {
        self.read_units.values().sum()
    }
}

/// The interceptor; clones share one tally.
#[derive(Debug, Default, Clone)]
pub struct Counter {
    tally: Arc<Mutex<Tally>>,
    /// The findings table (its items are measured apart from the others).
    findings_table: Arc<Mutex<Option<String>>>,
    /// Size of every item written so far, by table and key, for read units.
    sizes: Arc<Mutex<HashMap<String, u64>>>,
    /// The `first_seen_at` of every finding written so far: what the `by_first_seen`
    /// index holds, for its write units.
    first_seen: Arc<Mutex<HashMap<String, String>>>,
}

/// Operation name under which writes of the findings index are counted.
pub const INDEX_WRITES: &str = "DynamoDB.by_first_seen (index)";

impl Counter {
    pub fn shared(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    pub fn set_findings_table(&self, table: &str) {
        if let Ok(mut t) = self.findings_table.lock() {
            *t = Some(table.to_string());
        }
    }

    /// The tally so far, and a fresh start.
    pub fn take(&self) -> Tally {
        self.tally
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> Option<T> {
        self.tally.lock().ok().map(|mut t| f(&mut t))
    }

    fn is_findings(&self, table: &str) -> bool {
        self.findings_table
            .lock()
            .map(|t| t.as_deref() == Some(table))
            .unwrap_or(false)
    }

    fn remember(&self, table: &str, item: &HashMap<String, AttributeValue>, size: u64) {
        if let Ok(mut sizes) = self.sizes.lock() {
            sizes.insert(key_of(table, item), size);
        }
    }

    fn size_of_key(&self, table: &str, key: &HashMap<String, AttributeValue>) -> Option<u64> {
        self.sizes.lock().ok()?.get(&key_of(table, key)).copied()
    }

    fn written(&self, op: &str, table: &str, item: &HashMap<String, AttributeValue>) {
        let size = item_size(item);
        self.remember(table, item, size);
        let findings = self.is_findings(table);
        let index_units = if findings {
            self.index_units(table, item)
        } else {
            0
        };
        self.with(|t| {
            *t.write_units.entry(op.to_string()).or_default() += write_units(size);
            if index_units > 0 {
                *t.write_units.entry(INDEX_WRITES.to_string()).or_default() += index_units;
                t.index_write_units += index_units;
            }
            if findings {
                t.finding_items += 1;
                t.finding_write_units += write_units(size);
                t.finding_item_bytes += size;
                t.finding_item_max_bytes = t.finding_item_max_bytes.max(size);
            }
        });
    }

    /// Write units the keys-only `by_first_seen` index of the findings table spends on
    /// this item: an entry is ~0.3 KB (its keys plus 100 bytes), so one unit to put it, two
    /// to move it, none when `first_seen_at` did not change.
    fn index_units(&self, table: &str, item: &HashMap<String, AttributeValue>) -> u64 {
        let Some(AttributeValue::S(first_seen)) = item.get("first_seen_at") else {
            return 0;
        };
        let Ok(mut known) = self.first_seen.lock() else {
            return 0;
        };
        match known.insert(key_of(table, item), first_seen.clone()) {
            None => 1,
            Some(before) if before == *first_seen => 0,
            Some(_) => 2,
        }
    }

    /// A read of `key`: 4 KB per unit strongly consistent, half that eventually; an
    /// item that does not exist still costs the minimum.
    fn read(&self, op: &str, table: &str, key: &HashMap<String, AttributeValue>, strong: bool) {
        let size = self.size_of_key(table, key).unwrap_or(0);
        let units = size.div_ceil(4096).max(1) as f64 * if strong { 1.0 } else { 0.5 };
        self.with(|t| *t.read_units.entry(op.to_string()).or_default() += units);
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "BenchRequestCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            for (table, requests) in i.request_items().into_iter().flatten() {
                for r in requests {
                    if let Some(put) = r.put_request() {
                        self.written("BatchWriteItem", table, put.item());
                    } else {
                        self.with(|t| {
                            *t.write_units.entry("BatchWriteItem".into()).or_default() += 1
                        });
                    }
                }
            }
        } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
            if let (Some(table), Some(item)) = (i.table_name(), i.item()) {
                self.written("PutItem", table, item);
            }
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            // Charged on the larger of the item before and after; the items updated
            // here (jobs, keys) are far below 1 KB, checked by `requests`.
            let _ = i;
            self.with(|t| *t.write_units.entry("UpdateItem".into()).or_default() += 1);
        } else if input.downcast_ref::<DeleteItemInput>().is_some() {
            self.with(|t| *t.write_units.entry("DeleteItem".into()).or_default() += 1);
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            for (table, request) in i.request_items().into_iter().flatten() {
                let strong = request.consistent_read().unwrap_or(false);
                for key in request.keys() {
                    self.read("BatchGetItem", table, key, strong);
                }
            }
        } else if let Some(i) = input.downcast_ref::<GetItemInput>() {
            if let (Some(table), Some(key)) = (i.table_name(), i.key()) {
                self.read("GetItem", table, key, i.consistent_read().unwrap_or(false));
            }
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", service_name(m.service()), m.name()))
            .unwrap_or_else(|| "unknown".into());
        self.with(|t| *t.requests.entry(name).or_default() += 1);
        Ok(())
    }
}

fn service_name(service: &str) -> &str {
    match service.to_ascii_lowercase().as_str() {
        "dynamodb" => "DynamoDB",
        "s3" => "S3",
        "sqs" => "SQS",
        _ => service,
    }
}

fn key_of(table: &str, item: &HashMap<String, AttributeValue>) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    format!("{table}\u{0}{}\u{0}{}", part("pk"), part("sk"))
}

/// Write units of an item of `size` bytes: one per KB started.
pub fn write_units(size: u64) -> u64 {
    size.div_ceil(1024).max(1)
}

/// An item's size by DynamoDB's rules: names plus values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter().map(|(k, v)| attribute_size(k, v)).sum()
}

fn attribute_size(name: &str, value: &AttributeValue) -> u64 {
    name.len() as u64 + value_size(value)
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<u64>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() as u64 + value_size(e))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// Numbers take about one byte per two significant digits, plus one.
fn number_size(n: &str) -> u64 {
    let digits = n
        .trim_start_matches('-')
        .trim_start_matches('0')
        .chars()
        .filter(char::is_ascii_digit)
        .count() as u64;
    digits.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("pk".to_string(), AttributeValue::S("TENANT#a".into())),
            ("n".to_string(), AttributeValue::N("12345".into())),
            (
                "b".to_string(),
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0; 1000])),
            ),
        ]);
        assert_eq!(item_size(&item), (2 + 8) + (1 + 4) + (1 + 1000));
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
    }
}
