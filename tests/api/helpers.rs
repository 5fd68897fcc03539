//! Starting a stack per test and talking to it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ocsf_ingest::local::provision::ProvisionOptions;
use ocsf_ingest::local::{LocalStack, StackOptions};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response};
use serde_json::Value;

pub struct TestApp {
    pub stack: LocalStack,
    pub client: Client,
}

/// The project's virtualenv, where `scripts/test` installs moto (and the Prowler CLI).
pub fn venv() -> PathBuf {
    std::env::var_os("OCSF_INGEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Vec::new()).await
}

/// A stack whose functions see these environment variables over the template's.
pub async fn spawn_app_with(env_overrides: Vec<(&str, &str)>) -> TestApp {
    spawn_app_custom(env_overrides, None).await
}

/// A stack with environment overrides and a short queue visibility timeout (seconds),
/// for tests of redelivery.
pub async fn spawn_app_custom(
    env_overrides: Vec<(&str, &str)>,
    visibility_timeout: Option<u32>,
) -> TestApp {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "t{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let stack = LocalStack::start(StackOptions {
        port: 0,
        moto_port: 0,
        venv: venv(),
        prefix,
        env_overrides: env_overrides
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        provision: ProvisionOptions { visibility_timeout },
        ..StackOptions::default()
    })
    .await
    .expect("the local stack starts");
    TestApp {
        stack,
        client: Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client"),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.base_url, path)
    }

    pub fn auth(&self) -> String {
        format!("Api-Key {}", self.stack.api_key)
    }

    /// Uploads `bytes` the way the Prowler CLI does (multipart part `file`).
    pub async fn upload_multipart(&self, bytes: Vec<u8>, file_name: &str) -> Response {
        let part = Part::bytes(bytes)
            .file_name(file_name.to_string())
            .mime_str("application/json")
            .expect("mime");
        self.client
            .post(self.url("/api/v1/ingestions"))
            .header("Authorization", self.auth())
            .header("Accept", "application/vnd.api+json")
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .expect("upload request")
    }

    /// Posts a raw body with the given headers (and the app's key).
    pub async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/ingestions"))
            .header("Authorization", self.auth());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(body).send().await.expect("POST request")
    }

    /// Posts `body` as `application/json`, expects 202, and waits for the job to finish:
    /// its id and final state.
    pub async fn ingest_json(&self, body: Vec<u8>) -> (String, Value) {
        self.ingest(body, &[("Content-Type", "application/json")])
            .await
    }

    /// Posts `body` with `headers`, expects 202, and waits for the job to finish: its id
    /// and final state.
    pub async fn ingest(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (String, Value) {
        let response = self.post_raw(body, headers).await;
        assert_eq!(response.status(), 202);
        let id = response.json::<Value>().await.expect("job JSON")["data"]["id"]
            .as_str()
            .expect("job id")
            .to_string();
        let job = self.wait_for_final(&id).await;
        (id, job)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("Authorization", self.auth())
            .send()
            .await
            .expect("GET request")
    }

    /// How many findings the tenant has stored (counted in DynamoDB, not through the API).
    pub async fn stored_findings(&self) -> u64 {
        self.stack
            .deps
            .stores
            .findings
            .count(&self.stack.tenant_id)
            .await
            .expect("findings count")
    }

    /// Polls the job until it is completed or failed (at most 60 s).
    pub async fn wait_for_final(&self, id: &str) -> Value {
        for _ in 0..600 {
            let body: Value = self
                .get(&format!("/api/v1/ingestions/{id}"))
                .await
                .json()
                .await
                .expect("job JSON");
            let status = body["data"]["attributes"]["status"].as_str().unwrap_or("");
            if status == "completed" || status == "failed" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} did not finish within 60 s");
    }
}

/// Asserts a timestamp is RFC 3339 UTC with exactly six fractional digits.
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp"));
    assert_eq!(s.len(), 27, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    assert!(
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok(),
        "{s}"
    );
}

/// What the `dev` command's banner tells: the API's URL, moto's, and the dev key.
#[derive(Debug, Default)]
pub struct Banner {
    pub url: Option<String>,
    pub moto: Option<String>,
    pub key: Option<String>,
}

impl Banner {
    /// Takes in one line of `dev`'s output; true once the banner is complete.
    pub fn read(&mut self, line: &str) -> bool {
        let field = |prefix: &str| line.strip_prefix(prefix).map(|v| v.trim().to_string());
        if let Some(url) = field("OCSF ingestion API listening on ") {
            self.url = Some(url);
        } else if let Some(moto) = field("moto (S3, DynamoDB, SQS) on ") {
            self.moto = Some(moto);
        } else if let Some(key) = field("API key (shown once): ") {
            self.key = Some(key);
        }
        self.url.is_some() && self.moto.is_some() && self.key.is_some()
    }
}

/// GET with the app's key; the status and the JSON:API body.
pub async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json",
        "{path}"
    );
    (status, response.json().await.unwrap())
}
