//! Authentication, permissions and tenant isolation on every endpoint: two tenants, each
//! with a processed ingestion (findings and a record error), and every endpoint called
//! with every kind of credential. Each cell's status, `code`, whole error document and
//! `WWW-Authenticate` header are checked; all mismatches are reported together.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use shared::auth::{generate_key, KeyInfo, Permission, StoredKey};
use shared::store::PutKeyOutcome;

use crate::fixtures::{finding, to_bytes};
use crate::helpers::{spawn_app, TestApp};

const TENANTS: [&str; 2] = ["alpha", "beta"];
const MISSING_JOB: &str = "01a2429e-fe80-715f-aed1-9147e22c206f";

/// One tenant's keys and data.
struct Tenant {
    id: &'static str,
    full: String,
    ingest_only: String,
    read_only: String,
    expired: String,
    revoked: String,
    job: String,
    finding_uid: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Endpoint {
    Submit,
    List,
    Get,
    Errors,
    Findings,
    Finding,
}

const ENDPOINTS: [Endpoint; 6] = [
    Endpoint::Submit,
    Endpoint::List,
    Endpoint::Get,
    Endpoint::Errors,
    Endpoint::Findings,
    Endpoint::Finding,
];

impl Endpoint {
    fn permission(self) -> Permission {
        match self {
            Endpoint::Findings | Endpoint::Finding => Permission::ReadFindings,
            _ => Permission::ManageIngestions,
        }
    }

    /// Method and path for a tenant's own resources.
    fn request(self, owner: &Tenant) -> (Method, String) {
        match self {
            Endpoint::Submit => (Method::POST, "/api/v1/ingestions".into()),
            Endpoint::List => (Method::GET, "/api/v1/ingestions".into()),
            Endpoint::Get => (Method::GET, format!("/api/v1/ingestions/{}", owner.job)),
            Endpoint::Errors => (
                Method::GET,
                format!("/api/v1/ingestions/{}/errors", owner.job),
            ),
            Endpoint::Findings => (Method::GET, "/api/v1/findings".into()),
            Endpoint::Finding => (
                Method::GET,
                format!("/api/v1/findings/{}", owner.finding_uid),
            ),
        }
    }

    /// The same endpoint for a resource that exists nowhere.
    fn missing_path(self) -> Option<String> {
        match self {
            Endpoint::Get => Some(format!("/api/v1/ingestions/{MISSING_JOB}")),
            Endpoint::Errors => Some(format!("/api/v1/ingestions/{MISSING_JOB}/errors")),
            Endpoint::Finding => Some("/api/v1/findings/no-such-finding".into()),
            _ => None,
        }
    }
}

struct Reply {
    status: u16,
    www_authenticate: Option<String>,
    body: Value,
}

async fn call(app: &TestApp, method: Method, path: &str, authorization: Option<&str>) -> Reply {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    if method == Method::POST {
        request = request
            .header("Content-Type", "application/json")
            .body("[]");
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/vnd.api+json", "{method} {path}");
    let body = response.json().await.expect("a JSON body");
    Reply {
        status,
        www_authenticate,
        body,
    }
}

fn header(key: &str) -> String {
    format!("Api-Key {key}")
}

fn error_doc(status: u16, code: &str, title: &str, detail: &str) -> Value {
    json!({"errors": [{"status": status.to_string(), "code": code, "title": title,
                       "detail": detail}],
           "meta": {"version": "v1"}})
}

fn unauthorized(detail: &str) -> Value {
    error_doc(
        401,
        "authentication_failed",
        "Authentication failed",
        detail,
    )
}

/// A key stored directly, to get one that expired a second ago (the admin commands
/// refuse a past expiry).
async fn expired_key(app: &TestApp, tenant: &str) -> String {
    let key = generate_key();
    let now = shared::time::now();
    let outcome = app
        .stack
        .deps
        .stores
        .keys
        .put_key(&StoredKey {
            info: KeyInfo {
                prefix: key.prefix.clone(),
                tenant_id: tenant.into(),
                name: "expired".into(),
                permissions: Permission::ALL.to_vec(),
                created_at: now - time::Duration::days(2),
                expires_at: Some(now - time::Duration::seconds(1)),
                last_used_at: None,
                revoked_at: None,
            },
            secret_hash: key.secret_hash.clone(),
        })
        .await
        .unwrap();
    assert_eq!(outcome, PutKeyOutcome::Created);
    key.full_key
}

async fn wait_for_final(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..600 {
        let reply = call(
            app,
            Method::GET,
            &format!("/api/v1/ingestions/{id}"),
            Some(&header(key)),
        )
        .await;
        let status = reply.body["data"]["attributes"]["status"].clone();
        if status == "completed" || status == "failed" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish");
}

async fn set_up(app: &TestApp, id: &'static str) -> Tenant {
    let keys = &app.stack.deps.stores.keys;
    let create = |name: &'static str, permissions: &'static [Permission]| async move {
        ocsf_ingest::admin::create_key(keys, id, name, permissions, None)
            .await
            .unwrap()
    };
    let full = create("full", &Permission::ALL).await;
    let ingest_only = create("ingest", &[Permission::ManageIngestions]).await;
    let read_only = create("read", &[Permission::ReadFindings]).await;
    let revoked = create("revoked", &Permission::ALL).await;
    let prefix = shared::auth::parse_prefix(&revoked).unwrap().to_string();
    ocsf_ingest::admin::revoke_key(keys, id, &prefix)
        .await
        .unwrap();
    let expired = expired_key(app, id).await;

    let finding_uid = format!("{id}-finding-0");
    let records = vec![
        finding(&finding_uid),
        finding(&format!("{id}-finding-1")),
        json!({"class_uid": 2004}),
    ];
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", header(&full))
        .header("Content-Type", "application/json")
        .body(to_bytes(&records))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job = response.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_for_final(app, &full, &job).await;
    assert_eq!(done["data"]["attributes"]["status"], "completed", "{done}");
    assert_eq!(
        done["data"]["attributes"]["summary"]["invalid"], 1,
        "{done}"
    );
    Tenant {
        id,
        full,
        ingest_only,
        read_only,
        expired,
        revoked,
        job,
        finding_uid,
    }
}

/// What the owner's key gets: the tenant's own data.
fn check_own(endpoint: Endpoint, owner: &Tenant, other: &Tenant, reply: &Reply) -> Option<String> {
    let expected = if endpoint == Endpoint::Submit {
        202
    } else {
        200
    };
    if reply.status != expected || reply.www_authenticate.is_some() {
        return Some(format!(
            "expected {expected}, got {} {}",
            reply.status, reply.body
        ));
    }
    let data = &reply.body["data"];
    let ids: BTreeSet<&str> = data
        .as_array()
        .map(|items| items.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    let ok = match endpoint {
        Endpoint::Submit => data["attributes"]["status"] == "pending",
        Endpoint::List => ids.contains(owner.job.as_str()) && !ids.contains(other.job.as_str()),
        Endpoint::Get => data["id"] == owner.job.as_str(),
        Endpoint::Errors => {
            // The seeded file's third record (index 2) is its only invalid one.
            let errors = data.as_array().cloned().unwrap_or_default();
            !errors.is_empty()
                && reply.body["meta"]["total"] == errors.len()
                && errors.iter().all(|e| {
                    e["attributes"]["record_index"] == 2
                        && e["id"]
                            .as_str()
                            .is_some_and(|id| id.starts_with(&format!("{}:", owner.job)))
                })
        }
        Endpoint::Findings => {
            ids.len() == 2
                && ids
                    .iter()
                    .all(|uid| uid.starts_with(&format!("{}-", owner.id)))
        }
        Endpoint::Finding => data["id"] == owner.finding_uid.as_str(),
    };
    (!ok).then(|| format!("unexpected body {}", reply.body))
}

#[tokio::test]
async fn every_endpoint_answers_every_kind_of_credential_exactly() {
    let app = spawn_app().await;
    let mut tenants = Vec::new();
    for id in TENANTS {
        tenants.push(set_up(&app, id).await);
    }
    let unknown = generate_key().full_key;
    let malformed_detail = "the API key is malformed; keys look like pk_XXXXXXXX.<secret>";
    let mut failures = Vec::new();
    // Jobs created by the matrix's POSTs, per tenant they must belong to.
    let mut posted: [Vec<String>; 2] = [Vec::new(), Vec::new()];

    for owner_index in 0..2 {
        for endpoint in ENDPOINTS {
            let (owner, other) = (&tenants[owner_index], &tenants[1 - owner_index]);
            let (method, path) = endpoint.request(owner);
            let lacking = match endpoint.permission() {
                Permission::ManageIngestions => &owner.read_only,
                Permission::ReadFindings => &owner.ingest_only,
            };
            let wrong_secret = format!(
                "{}.{}",
                owner.full.split_once('.').unwrap().0,
                unknown.split_once('.').unwrap().1
            );
            let cell = |case: &str| format!("{} {method} {path} with {case}", owner.id);
            let mut check = |case: &str, reply: &Reply, status: u16, doc: &Value| {
                let www = (status == 401).then(|| "Api-Key".to_string());
                if reply.status != status || &reply.body != doc || reply.www_authenticate != www {
                    failures.push(format!(
                        "{}: expected {status} {doc} (WWW-Authenticate {www:?}), got {} {} ({:?})",
                        cell(case),
                        reply.status,
                        reply.body,
                        reply.www_authenticate
                    ));
                }
            };

            // Credentials that must fail before anything is looked at.
            let cases: [(&str, Option<String>, u16, Value); 8] = [
                (
                    "no header",
                    None,
                    401,
                    error_doc(
                        401,
                        "not_authenticated",
                        "Authentication credentials were not provided",
                        "the Authorization header is missing; send \"Authorization: Api-Key <key>\"",
                    ),
                ),
                (
                    "another scheme",
                    Some(format!("Bearer {}", owner.full)),
                    401,
                    unauthorized("the Authorization header must read \"Api-Key <key>\""),
                ),
                (
                    "a malformed key",
                    Some("Api-Key pk_ABCDEFGH.too-short".into()),
                    401,
                    unauthorized(malformed_detail),
                ),
                (
                    "an unknown prefix",
                    Some(header(&unknown)),
                    401,
                    unauthorized("invalid API key"),
                ),
                (
                    "a wrong secret",
                    Some(header(&wrong_secret)),
                    401,
                    unauthorized("invalid API key"),
                ),
                (
                    "an expired key",
                    Some(header(&owner.expired)),
                    401,
                    unauthorized("this API key has expired"),
                ),
                (
                    "a revoked key",
                    Some(header(&owner.revoked)),
                    401,
                    unauthorized("this API key has been revoked"),
                ),
                (
                    "a key without the permission",
                    Some(header(lacking)),
                    403,
                    error_doc(
                        403,
                        "permission_denied",
                        "Permission denied",
                        &format!(
                            "this API key lacks the {} permission",
                            endpoint.permission().as_str()
                        ),
                    ),
                ),
            ];
            for (case, authorization, status, doc) in cases {
                let reply = call(&app, method.clone(), &path, authorization.as_deref()).await;
                check(case, &reply, status, &doc);
            }

            // The other tenant's (fully privileged) key: another tenant's id is exactly
            // a missing id; lists and submissions are the other tenant's own.
            let reply = call(&app, method.clone(), &path, Some(&header(&other.full))).await;
            match endpoint.missing_path() {
                Some(missing) => {
                    let absent =
                        call(&app, Method::GET, &missing, Some(&header(&other.full))).await;
                    assert_eq!(absent.status, 404, "{}", absent.body);
                    check("the other tenant's key", &reply, 404, &absent.body);
                }
                None => {
                    if let Some(problem) = check_own(endpoint, other, owner, &reply) {
                        failures.push(format!("{}: {problem}", cell("the other tenant's key")));
                    }
                }
            }
            if endpoint == Endpoint::Submit {
                if let Some(id) = reply.body["data"]["id"].as_str() {
                    posted[1 - owner_index].push(id.to_string());
                }
            }

            // The owner's own key last, so its POST is the owner's.
            let reply = call(&app, method.clone(), &path, Some(&header(&owner.full))).await;
            if let Some(problem) = check_own(endpoint, owner, other, &reply) {
                failures.push(format!("{}: {problem}", cell("its own key")));
            }
            if endpoint == Endpoint::Submit {
                if let Some(id) = reply.body["data"]["id"].as_str() {
                    posted[owner_index].push(id.to_string());
                }
            }
        }
    }

    // Refused requests created nothing, and every accepted POST landed in its key's
    // tenant only.
    for (tenant, posted) in tenants.iter().zip(&posted) {
        let reply = call(
            &app,
            Method::GET,
            "/api/v1/ingestions",
            Some(&header(&tenant.full)),
        )
        .await;
        let listed: BTreeSet<String> = reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let mut expected: BTreeSet<String> = posted.iter().cloned().collect();
        expected.insert(tenant.job.clone());
        assert_eq!(expected.len(), 3, "{} posted {posted:?}", tenant.id);
        if listed != expected {
            failures.push(format!(
                "{} lists {listed:?}, expected {expected:?}",
                tenant.id
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_prefix_are_indistinguishable() {
    let app = spawn_app().await;
    let key = app.stack.api_key.clone();
    let unknown = generate_key().full_key;
    let wrong = format!(
        "{}.{}",
        key.split_once('.').unwrap().0,
        unknown.split_once('.').unwrap().1
    );
    let mut replies = Vec::new();
    for candidate in [&wrong, &unknown] {
        let response = app
            .client
            .get(app.url("/api/v1/ingestions"))
            .header("Authorization", header(candidate))
            .send()
            .await
            .unwrap();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        headers.sort();
        let status = response.status();
        replies.push((status, headers, response.text().await.unwrap()));
    }
    assert_eq!(replies[0].0, 401);
    assert_eq!(replies[0], replies[1]);
}
