//! Reading and writing DynamoDB attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
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

/// Every item a query matches, across all its pages (the SDK's paginator).
pub async fn query_all(
    query: QueryFluentBuilder,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::aws(operation, e))
}

/// Every item a scan returns, across all its pages.
pub async fn scan_all(
    scan: ScanFluentBuilder,
    operation: &'static str,
) -> Result<Vec<Item>, StoreError> {
    scan.into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::aws(operation, e))
}

/// How many items a query matches, across all its pages (only the count is returned).
pub async fn query_count(
    query: QueryFluentBuilder,
    operation: &'static str,
) -> Result<u64, StoreError> {
    let pages = query
        .select(Select::Count)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::aws(operation, e))?;
    Ok(pages.iter().map(|page| page.count as u64).sum())
}
