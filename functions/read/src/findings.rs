//! GET /api/v1/findings and GET /api/v1/findings/{uid}: the tenant's stored findings as
//! `findings` resources; the single view adds the original OCSF record as `raw`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use shared::jsonapi::{document, json_response, paginated_document};
use shared::store::FindingSummary;
use shared::{ApiError, Deps};

use crate::query::{self, past_the_end, Query};
use shared::store::internal;

pub async fn get(
    deps: &Deps,
    tenant_id: &str,
    uid: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if let Some((name, _)) = query.pairs().first() {
        return Err(query::invalid(
            name,
            format!("{name} is not a supported query parameter here"),
        ));
    }
    let (finding, raw) = deps
        .stores
        .findings
        .get(tenant_id, uid)
        .await
        .map_err(internal("finding lookup"))?
        .ok_or_else(ApiError::not_found)?;
    let objects = &deps.stores.objects;
    let bytes = if shared::message::is_compressed_raw_key(&raw.key) {
        objects
            .read_inflated_range(&raw.key, raw.offset, raw.len)
            .await
    } else {
        objects.read_range(&raw.key, raw.offset, raw.len).await
    }
    .map_err(internal("raw record read"))?;
    let raw: Value = serde_json::from_slice(&bytes).map_err(|e| {
        internal("raw record parse")(shared::store::StoreError::Corrupt(format!(
            "raw record of {uid}: {e}"
        )))
    })?;
    let mut resource = resource(&finding);
    resource["attributes"]["raw"] = raw;
    Ok(json_response(StatusCode::OK, &document(resource)))
}

pub async fn list(
    deps: &Deps,
    tenant_id: &str,
    path: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let params = query::finding_list(query)?;
    let page = params.page;
    let found = deps
        .stores
        .findings
        .list(
            tenant_id,
            &params.filter,
            params.descending,
            page.offset(),
            page.size,
        )
        .await
        .map_err(internal("finding list"))?;
    if !page.exists(found.count) {
        return Err(past_the_end(page, found.count));
    }
    let data = found.findings.iter().map(resource).collect();
    Ok(json_response(
        StatusCode::OK,
        &paginated_document(data, page, found.count, path, query.pairs()),
    ))
}

fn resource(f: &FindingSummary) -> Value {
    json!({
        "type": "findings",
        "id": f.uid,
        "attributes": {
            "uid": f.uid,
            "severity": f.severity,
            "status_code": f.status_code,
            "provider": f.provider,
            "account_uid": f.account_uid,
            "region": f.region,
            "check_id": f.check_id,
            "first_seen_at": f.first_seen_at,
            "last_seen_at": f.last_seen_at,
            "ingestion_id": f.ingestion_id,
            "delta": f.delta,
        },
        "links": {"self": format!("/api/v1/findings/{}", path_segment(&f.uid))},
    })
}

/// Percent-encodes everything but unreserved characters, so any uid is one path segment.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_become_one_path_segment() {
        assert_eq!(path_segment("prowler-aws-x_1.2"), "prowler-aws-x_1.2");
        assert_eq!(path_segment("a/b:c d"), "a%2Fb%3Ac%20d");
    }
}
