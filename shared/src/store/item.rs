//! Reading and writing DynamoDB attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn ts(value: OffsetDateTime) -> AttributeValue {
    AttributeValue::S(crate::time::format(value))
}

/// Inserts an optional value, skipping `None`.
pub fn put_opt(item: &mut Item, name: &str, value: Option<AttributeValue>) {
    if let Some(value) = value {
        item.insert(name.to_string(), value);
    }
}

pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    opt_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn opt_n(item: &Item, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a number"))),
        _ => Ok(None),
    }
}

pub fn opt_ts(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_s(item, name)
        .map(|v| {
            crate::time::parse(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is not a timestamp")))
        })
        .transpose()
}

pub fn get_ts(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    opt_ts(item, name)?.ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}
