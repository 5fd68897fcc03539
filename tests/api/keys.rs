//! The `tenants` and `keys` admin commands against a stack's tables, and the keys they
//! print at work: create, list, last use, revoke.

use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_timestamp, spawn_app, spawn_app_with, TestApp};

fn admin(app: &TestApp, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ocsf-ingest"))
        .args(args)
        .args(["--keys-table", &app.stack.config.keys_table])
        .env("AWS_ENDPOINT_URL", &app.stack.moto_endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("the binary runs")
}

/// Runs an admin command that must succeed; its stdout.
fn admin_ok(app: &TestApp, args: &[&str]) -> String {
    let out = admin(app, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs an admin command that must fail; its stderr.
fn admin_err(app: &TestApp, args: &[&str]) -> String {
    let out = admin(app, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn list(app: &TestApp, tenant: &str) -> Vec<Value> {
    let out = admin_ok(app, &["keys", "list", "--tenant", tenant, "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

async fn status_with(app: &TestApp, method: &str, path: &str, key: &str) -> (u16, Value) {
    let request = match method {
        "POST" => app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .body("[]"),
        _ => app.client.get(app.url(path)),
    };
    let response = request
        .header("Authorization", format!("Api-Key {key}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_key_lives_through_create_list_use_and_revoke() {
    // A one-second lookup cache, so the revocation shows without a long wait.
    let app = spawn_app_with(vec![("API_KEY_CACHE_SECONDS", "1")]).await;

    // Keys are for existing tenants only.
    let err = admin_err(&app, &["keys", "create", "--tenant", "acme"]);
    assert!(
        err.contains("tenant \"acme\" does not exist; create it first with `ocsf-ingest tenants create --tenant acme`"),
        "{err}"
    );
    assert_eq!(
        admin_ok(
            &app,
            &[
                "tenants",
                "create",
                "--tenant",
                "acme",
                "--name",
                "Acme Corp"
            ]
        ),
        "created tenant acme\n"
    );
    assert_eq!(
        admin_ok(&app, &["tenants", "create", "--tenant", "acme"]),
        "tenant acme already exists\n"
    );
    let tenants = admin_ok(&app, &["tenants", "list"]);
    let rows: Vec<Vec<&str>> = tenants.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{tenants}");
    assert_eq!((rows[0][0], rows[0][2]), ("acme", "Acme Corp"));
    assert_eq!((rows[1][0], rows[1][2]), ("dev", "dev"));
    assert_timestamp(&json!(rows[0][1]));
    assert_eq!(list(&app, "acme"), Vec::<Value>::new());

    let out = admin(
        &app,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "reader",
            "--permission",
            "read_findings",
            "--expires-in-days",
            "30",
        ],
    );
    assert!(out.status.success());
    let reader = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        reader.starts_with("pk_") && reader.len() == 3 + 8 + 1 + 43,
        "{reader}"
    );
    let reader_prefix = reader[3..11].to_string();
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(
        note.starts_with(&format!(
            "created key {reader_prefix} (reader) for tenant acme: read_findings, expires 20"
        )),
        "{note}"
    );
    let uploader = admin_ok(
        &app,
        &["keys", "create", "--tenant", "acme", "--name", "uploader"],
    )
    .trim()
    .to_string();
    let uploader_prefix = uploader[3..11].to_string();

    let listed = list(&app, "acme");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let (reader_row, uploader_row) = (&listed[0], &listed[1]);
    for row in &listed {
        assert_timestamp(&row["created_at"]);
    }
    assert_timestamp(&reader_row["expires_at"]);
    let created = shared::time::parse(reader_row["created_at"].as_str().unwrap()).unwrap();
    let expires = shared::time::parse(reader_row["expires_at"].as_str().unwrap()).unwrap();
    let lifetime = expires - created;
    assert!(
        (lifetime - time::Duration::days(30)).abs() < time::Duration::seconds(5),
        "{lifetime}"
    );
    let mut expected_reader = reader_row.clone();
    expected_reader["created_at"] = json!("<t>");
    expected_reader["expires_at"] = json!("<t>");
    assert_eq!(
        expected_reader,
        json!({"prefix": reader_prefix, "tenant": "acme", "name": "reader",
               "permissions": ["read_findings"], "state": "active", "created_at": "<t>",
               "expires_at": "<t>", "last_used_at": null, "revoked_at": null})
    );
    let mut expected_uploader = uploader_row.clone();
    expected_uploader["created_at"] = json!("<t>");
    assert_eq!(
        expected_uploader,
        json!({"prefix": uploader_prefix, "tenant": "acme", "name": "uploader",
               "permissions": ["manage_ingestions", "read_findings"], "state": "active",
               "created_at": "<t>", "expires_at": null, "last_used_at": null,
               "revoked_at": null})
    );

    // The table form shows the same keys, and no listing shows a secret.
    let table = admin_ok(&app, &["keys", "list", "--tenant", "acme"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("PREFIX    NAME      PERMISSIONS"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&format!("{reader_prefix}  reader    read_findings")),
        "{table}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{uploader_prefix}  uploader  manage_ingestions,read_findings  active"
        )),
        "{table}"
    );
    for key in [&reader, &uploader] {
        let secret = key.split_once('.').unwrap().1;
        assert!(!table.contains(secret) && !format!("{listed:?}").contains(secret));
    }

    // The keys work with their permissions; the first use is recorded, the next one
    // within a minute is not written again.
    assert_eq!(
        status_with(&app, "GET", "/api/v1/findings", &reader)
            .await
            .0,
        200
    );
    let (status, body) = status_with(&app, "POST", "/api/v1/ingestions", &reader).await;
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (403, &json!("permission_denied"))
    );
    let first_use = list(&app, "acme")[0]["last_used_at"].clone();
    assert_timestamp(&first_use);
    assert!(first_use.as_str().unwrap() >= reader_row["created_at"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        status_with(&app, "GET", "/api/v1/findings", &reader)
            .await
            .0,
        200
    );
    let after = list(&app, "acme");
    assert_eq!(after[0]["last_used_at"], first_use);
    assert_eq!(after[1]["last_used_at"], Value::Null);

    // Revocation is per tenant, takes effect once the cached lookup expires, and a
    // second revocation keeps the first time.
    admin_ok(&app, &["tenants", "create", "--tenant", "globex"]);
    let err = admin_err(
        &app,
        &[
            "keys",
            "revoke",
            "--tenant",
            "globex",
            "--prefix",
            &reader_prefix,
        ],
    );
    assert!(
        err.contains(&format!(
            "tenant \"globex\" has no key with prefix {reader_prefix}"
        )),
        "{err}"
    );
    let out = admin_ok(
        &app,
        &[
            "keys",
            "revoke",
            "--tenant",
            "acme",
            "--prefix",
            &format!("pk_{reader_prefix}"),
        ],
    );
    assert!(
        out.starts_with(&format!("revoked key {reader_prefix} at ")),
        "{out}"
    );
    let revoked_at = list(&app, "acme")[0]["revoked_at"].clone();
    assert_timestamp(&revoked_at);
    let again = admin_ok(
        &app,
        &[
            "keys",
            "revoke",
            "--tenant",
            "acme",
            "--prefix",
            &reader_prefix,
        ],
    );
    assert_eq!(
        again,
        format!(
            "key {reader_prefix} was already revoked at {}\n",
            revoked_at.as_str().unwrap()
        )
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = status_with(&app, "GET", "/api/v1/findings", &reader).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "authentication_failed");
    assert_eq!(body["errors"][0]["detail"], "this API key has been revoked");
    assert_eq!(
        status_with(&app, "POST", "/api/v1/ingestions", &uploader)
            .await
            .0,
        202
    );
    let listed = list(&app, "acme");
    assert_eq!(listed[0]["state"], "revoked");
    assert_eq!(listed[0]["revoked_at"], revoked_at);
    assert_eq!(listed[1]["state"], "active");
    assert_timestamp(&listed[1]["last_used_at"]);
}

#[tokio::test]
async fn the_commands_refuse_bad_input_with_a_clear_message() {
    let app = spawn_app().await;
    let refusals: [(&[&str], &str); 6] = [
        (
            &["keys", "create", "--tenant", "dev", "--permission", "admin"],
            "unknown permission \"admin\": use manage_ingestions or read_findings",
        ),
        (
            &[
                "keys",
                "create",
                "--tenant",
                "dev",
                "--expires-at",
                "2020-01-01T00:00:00Z",
            ],
            "the expiry must be in the future",
        ),
        (
            &[
                "keys",
                "create",
                "--tenant",
                "dev",
                "--expires-at",
                "tomorrow",
            ],
            "\"tomorrow\" is not an RFC 3339 time",
        ),
        (
            &["tenants", "create", "--tenant", "a#b"],
            "invalid tenant id \"a#b\"",
        ),
        (
            &["keys", "revoke", "--tenant", "dev", "--prefix", "nope"],
            "\"nope\" is not a key prefix",
        ),
        (
            &["keys", "list", "--tenant", "nobody"],
            "tenant \"nobody\" does not exist",
        ),
    ];
    for (args, message) in refusals {
        let err = admin_err(&app, args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // Nothing was created by the refused commands.
    assert_eq!(list(&app, "dev").len(), 1);

    // --create-tenant makes tenant and key in one go.
    let key = admin_ok(
        &app,
        &[
            "keys",
            "create",
            "--tenant",
            "initech",
            "--create-tenant",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
    )
    .trim()
    .to_string();
    let (status, _) = status_with(&app, "GET", "/api/v1/ingestions", &key).await;
    assert_eq!(status, 200);
    let listed = list(&app, "initech");
    assert_eq!(listed[0]["expires_at"], "2099-01-01T00:00:00.000000Z");
}
