//! Exact counts of a tenant's jobs or findings without reading their whole history.
//!
//! Both are counted over keys that only ever grow in time: job ids (UUIDv7) and the
//! `first_seen_at` of findings (the `by_first_seen` index). A checkpoint item
//! (`TENANT#<t>#COUNT`, `JOBS` or `FINDINGS`, in the jobs table) says how many entries
//! exist with a key up to `upto`; a count reads the checkpoint and the keys after it, and
//! folds the entries older than a settle margin into the checkpoint with a conditional
//! write, so two concurrent requests cannot both add the same entries. Nothing below the
//! margin changes any more, so the next request reads only what is new.

use aws_sdk_dynamodb::Client;

use super::item::{n, opt_n, opt_s, s};
use super::StoreError;

/// A tenant's entries in key order: a partition of a table or of an index whose sort key
/// only grows with time.
pub(super) struct Counted<'a> {
    pub table: &'a str,
    pub index: Option<&'a str>,
    pub pk_name: &'a str,
    pub pk: String,
    /// The sort key attribute, and the bounds of the counted keys (exclusive floor).
    pub key_name: &'a str,
    pub floor: &'a str,
    pub ceiling: &'a str,
}

/// Where checkpoints are kept.
#[derive(Clone, Debug)]
pub(super) struct Checkpoints {
    pub client: Client,
    pub table: String,
}

fn checkpoint_pk(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}#COUNT")
}

impl Checkpoints {
    /// How many entries `counted` holds: the checkpoint `name` plus the entries after it.
    /// Entries with keys below `settled_below` are folded into the checkpoint.
    pub async fn count(
        &self,
        tenant_id: &str,
        name: &str,
        counted: &Counted<'_>,
        settled_below: &str,
    ) -> Result<u64, StoreError> {
        let checkpoint = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(checkpoint_pk(tenant_id)))
            .key("sk", s(name))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem count checkpoint", e))?
            .item;
        let (before, upto) = match &checkpoint {
            Some(item) => (
                opt_n(item, "count")?.unwrap_or(0),
                opt_s(item, "upto").unwrap_or_else(|| counted.floor.to_string()),
            ),
            None => (0, counted.floor.to_string()),
        };
        let query = self
            .client
            .query()
            .table_name(counted.table)
            .set_index_name(counted.index.map(str::to_string))
            .key_condition_expression("#pk = :pk AND #k BETWEEN :from AND :to")
            .expression_attribute_names("#pk", counted.pk_name)
            .expression_attribute_names("#k", counted.key_name)
            .expression_attribute_values(":pk", s(&counted.pk))
            .expression_attribute_values(":from", s(format!("{upto}\u{1}")))
            .expression_attribute_values(":to", s(counted.ceiling))
            .projection_expression("#k");
        let mut recent = 0u64;
        let mut settled: Option<(u64, String)> = None;
        let mut pages = query.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::aws("Query recent entries", e))?;
            for item in page.items() {
                recent += 1;
                // Keys come in order, so every entry with this key is already counted.
                if let Some(key) =
                    opt_s(item, counted.key_name).filter(|k| k.as_str() < settled_below)
                {
                    settled = Some((recent, key));
                }
            }
        }
        if let Some((settled_count, settled_upto)) = settled {
            self.advance(
                tenant_id,
                name,
                checkpoint.as_ref().map(|_| upto.as_str()),
                before + settled_count,
                &settled_upto,
            )
            .await?;
        }
        Ok(before + recent)
    }

    /// Moves the checkpoint forward unless another request already moved it.
    async fn advance(
        &self,
        tenant_id: &str,
        name: &str,
        previous_upto: Option<&str>,
        count: u64,
        upto: &str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(checkpoint_pk(tenant_id)))
            .item("sk", s(name))
            .item("count", n(count))
            .item("upto", s(upto));
        put = match previous_upto {
            Some(previous) => put
                .condition_expression("upto = :previous")
                .expression_attribute_values(":previous", s(previous)),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::aws("PutItem count checkpoint", err)),
        }
    }
}
