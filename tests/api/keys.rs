//! `ocsf-ingest keys create` against a stack's tables, and the key it prints at work.

use serde_json::Value;

use crate::helpers::spawn_app;

fn keys_create(app: &crate::helpers::TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ocsf-ingest"))
        .args([
            "keys",
            "create",
            "--keys-table",
            &app.stack.config.keys_table,
        ])
        .args(args)
        .env("AWS_ENDPOINT_URL", &app.stack.moto_endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn a_created_key_authenticates_for_its_tenant_with_its_permissions() {
    let app = spawn_app().await;
    let out = keys_create(
        &app,
        &[
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--permission",
            "read_findings",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        key.starts_with("pk_") && key.len() == 3 + 8 + 1 + 43,
        "{key}"
    );

    // Valid, but without manage_ingestions: 403, not 401.
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", format!("Api-Key {key}"))
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "permission_denied");

    let out = keys_create(&app, &["--tenant", "acme", "--name", "uploader"]);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", format!("Api-Key {key}"))
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap();

    // Another tenant's job answers exactly like a missing one.
    let response = app.get(&format!("/api/v1/ingestions/{id}")).await;
    assert_eq!(response.status(), 404);
    let missing = app
        .get("/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f")
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        missing.json::<Value>().await.unwrap()
    );
}

#[tokio::test]
async fn unknown_permissions_are_refused_by_the_command() {
    let app = spawn_app().await;
    let out = keys_create(&app, &["--tenant", "acme", "--permission", "admin"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown permission"));
}
