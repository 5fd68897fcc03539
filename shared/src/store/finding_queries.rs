//! Reading a tenant's findings (`GET /api/v1/findings` and `/findings/{uid}`) by Query
//! and GetItem only (see docs/read-api.md for the access patterns and their costs).
//!
//! - An unfiltered list counts the tenant's findings from a checkpoint over the
//!   keys-only `by_first_seen` index (see `counts.rs`) and reads its page in uid order
//!   from the table: the keys before the window, then the window itself.
//! - A filtered list reads the tenant's partition in uid order with the filters as a
//!   FilterExpression, counting every match and keeping only the requested window. An
//!   index per filter would add write units to every finding ingested, since most
//!   filtered attributes change on every ingestion.

use time::Duration;

use super::counts::Counted;
use super::findings::{pk, sk, FindingsStore, RawRef, FIRST_SEEN_INDEX};
use super::item::{get_s, opt_n, opt_s, s, Item};
use super::job_queries::query_window;

/// How old a `first_seen_at` must be before the count checkpoint includes it. It is the
/// start of the processor run that wrote the finding, and a run lasts at most the
/// function's timeout (15 minutes), so no entry appears or moves below this margin.
pub const FINDINGS_SETTLE_MARGIN: Duration = Duration::minutes(30);

const FINDING_PREFIX: &str = "FINDING#";
use super::StoreError;

/// Attributes shown in lists (everything but the raw record).
const LIST_ATTRIBUTES: [&str; 11] = [
    "uid",
    "severity",
    "status_code",
    "provider",
    "account_uid",
    "region",
    "check_id",
    "first_seen_at",
    "last_seen_at",
    "ingestion_id",
    "delta",
];

/// What a findings list is filtered by; every part given must match exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub ingestion_id: Option<String>,
    /// Any of these severities (as stored: `High`, `Critical`, …).
    pub severities: Option<Vec<String>>,
    pub status_code: Option<String>,
    pub provider: Option<String>,
    pub account_uid: Option<String>,
    pub region: Option<String>,
    pub check_id: Option<String>,
    pub delta: Option<String>,
}

impl FindingFilter {
    pub fn is_empty(&self) -> bool {
        self.conditions().is_empty()
    }

    /// `(attribute, values)` pairs: the attribute must equal one of the values.
    fn conditions(&self) -> Vec<(&'static str, Vec<&str>)> {
        fn one(v: &Option<String>) -> Option<Vec<&str>> {
            v.as_deref().map(|v| vec![v])
        }
        [
            ("ingestion_id", one(&self.ingestion_id)),
            (
                "severity",
                self.severities
                    .as_ref()
                    .map(|v| v.iter().map(String::as_str).collect()),
            ),
            ("status_code", one(&self.status_code)),
            ("provider", one(&self.provider)),
            ("account_uid", one(&self.account_uid)),
            ("region", one(&self.region)),
            ("check_id", one(&self.check_id)),
            ("delta", one(&self.delta)),
        ]
        .into_iter()
        .filter_map(|(name, values)| values.map(|v| (name, v)))
        .collect()
    }
}

/// A stored finding as lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingSummary {
    pub uid: String,
    pub severity: Option<String>,
    pub status_code: Option<String>,
    pub provider: Option<String>,
    pub account_uid: Option<String>,
    pub region: Option<String>,
    pub check_id: Option<String>,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub ingestion_id: Option<String>,
    pub delta: Option<String>,
}

/// One page of findings and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingsPage {
    pub findings: Vec<FindingSummary>,
    pub count: u64,
}

fn summary(item: &Item) -> Result<FindingSummary, StoreError> {
    Ok(FindingSummary {
        uid: get_s(item, "uid")?,
        severity: opt_s(item, "severity"),
        status_code: opt_s(item, "status_code"),
        provider: opt_s(item, "provider"),
        account_uid: opt_s(item, "account_uid"),
        region: opt_s(item, "region"),
        check_id: opt_s(item, "check_id"),
        first_seen_at: opt_s(item, "first_seen_at"),
        last_seen_at: opt_s(item, "last_seen_at"),
        ingestion_id: opt_s(item, "ingestion_id"),
        delta: opt_s(item, "delta"),
    })
}

impl FindingsStore {
    /// One finding and where its original OCSF record is.
    pub async fn get(
        &self,
        tenant_id: &str,
        uid: &str,
    ) -> Result<Option<(FindingSummary, RawRef)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant_id)))
            .key("sk", s(sk(uid)))
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem finding", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("finding {uid} has no raw record reference"));
        let raw = RawRef {
            key: opt_s(&item, "raw_key").ok_or_else(corrupt)?,
            offset: opt_n(&item, "raw_at")?.ok_or_else(corrupt)?,
            len: opt_n(&item, "raw_len")?.ok_or_else(corrupt)?,
        };
        Ok(Some((summary(&item)?, raw)))
    }

    /// Findings `offset .. offset + limit` matching `filter`, in uid order (`descending`
    /// reverses it), and how many match in all.
    pub async fn list(
        &self,
        tenant_id: &str,
        filter: &FindingFilter,
        descending: bool,
        offset: u64,
        limit: u64,
    ) -> Result<FindingsPage, StoreError> {
        if filter.is_empty() {
            let count = self.count_all(tenant_id).await?;
            let findings = if offset >= count {
                Vec::new()
            } else {
                query_window(
                    &self.client,
                    &self.table,
                    &pk(tenant_id),
                    FINDING_PREFIX,
                    !descending,
                    offset,
                    limit,
                )
                .await?
                .iter()
                .map(summary)
                .collect::<Result<_, _>>()?
            };
            return Ok(FindingsPage { findings, count });
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk(tenant_id)))
            .expression_attribute_values(":prefix", s(FINDING_PREFIX))
            .scan_index_forward(!descending)
            .projection_expression(
                (0..LIST_ATTRIBUTES.len())
                    .map(|i| format!("#a{i}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        for (i, name) in LIST_ATTRIBUTES.iter().enumerate() {
            query = query.expression_attribute_names(format!("#a{i}"), *name);
        }
        let mut clauses = Vec::new();
        for (c, (name, values)) in filter.conditions().into_iter().enumerate() {
            query = query.expression_attribute_names(format!("#f{c}"), name);
            let mut placeholders = Vec::new();
            for (v, value) in values.into_iter().enumerate() {
                let placeholder = format!(":f{c}v{v}");
                query = query.expression_attribute_values(&placeholder, s(value));
                placeholders.push(placeholder);
            }
            clauses.push(format!("#f{c} IN ({})", placeholders.join(", ")));
        }
        if !clauses.is_empty() {
            query = query.filter_expression(clauses.join(" AND "));
        }
        let mut count = 0u64;
        let mut findings = Vec::new();
        let mut items = query.into_paginator().items().send();
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| StoreError::aws("Query findings", e))?;
            if count >= offset && count < offset.saturating_add(limit) {
                findings.push(summary(&item)?);
            }
            count += 1;
        }
        Ok(FindingsPage { findings, count })
    }
}

impl FindingsStore {
    /// How many findings the tenant has, from the checkpoint over `by_first_seen` plus the
    /// entries after it.
    pub async fn count_all(&self, tenant_id: &str) -> Result<u64, StoreError> {
        let findings = Counted {
            table: &self.table,
            index: Some(FIRST_SEEN_INDEX),
            pk_name: "pk",
            pk: pk(tenant_id),
            key_name: "first_seen_at",
            floor: "",
            ceiling: "~",
        };
        let settled_below = crate::time::format(crate::time::now() - FINDINGS_SETTLE_MARGIN);
        self.checkpoints
            .count(tenant_id, "FINDINGS", &findings, &settled_below)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_filters_become_conditions() {
        assert!(FindingFilter::default().conditions().is_empty());
        let filter = FindingFilter {
            severities: Some(vec!["High".into(), "Critical".into()]),
            region: Some("eu-west-1".into()),
            ..FindingFilter::default()
        };
        assert_eq!(
            filter.conditions(),
            vec![
                ("severity", vec!["High", "Critical"]),
                ("region", vec!["eu-west-1"])
            ]
        );
    }
}
