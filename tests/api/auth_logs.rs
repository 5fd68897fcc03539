//! No key material in the logs: the real `dev` binary at RUST_LOG=trace (everything
//! every crate can log, the AWS SDK included), driven with valid and invalid keys on
//! every endpoint and through a whole ingestion.
//!
//! `dev` prints its own key in the banner on stdout by design ("API key (shown once)"
//! and the `export KEY=` hint); exactly those two lines are set aside. Everything else,
//! stdout and stderr, must contain neither that key nor its secret, and a second key
//! made with `keys create` (never printed by `dev`) and the invalid keys must appear
//! nowhere at all.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::helpers::venv;

/// Collects every line of a stream, and forwards them while someone listens.
fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    forward: Option<mpsc::UnboundedSender<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Some(tx) = &forward {
                let _ = tx.send(line.clone());
            }
            lines.lock().unwrap().push(line);
        }
    })
}

fn secret_of(key: &str) -> &str {
    key.split_once('.').unwrap().1
}

#[tokio::test]
async fn a_full_run_logs_no_key_and_no_secret() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocsf-ingest"))
        .args(["dev", "--port", "0", "--moto-port", "0", "--venv"])
        .arg(venv())
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let out_task = collect(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
    let err_task = collect(child.stderr.take().unwrap(), stderr.clone(), None);

    let mut banner = crate::helpers::Banner::default();
    let read_banner = async {
        while let Some(line) = rx.recv().await {
            if banner.read(&line) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_banner)
        .await
        .expect("dev printed its banner within 60 s");
    drop(rx);
    let (url, moto, key) = (
        banner.url.unwrap(),
        banner.moto.unwrap(),
        banner.key.unwrap(),
    );

    // A second key for the dev tenant, made by the admin command against dev's moto.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocsf-ingest"))
        .args(["keys", "create", "--tenant", "dev", "--name", "second"])
        .args(["--keys-table", "ocsf-local-keystable"])
        .env("AWS_ENDPOINT_URL", &moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let unknown = shared::auth::generate_key().full_key;
    let wrong_secret = format!(
        "{}.{}",
        key.split_once('.').unwrap().0,
        secret_of(&unknown).replace('A', "B")
    );
    let malformed = format!("{}!", key);
    let client = reqwest::Client::new();
    let paths = [
        "/api/v1/ingestions",
        "/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f",
        "/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f/errors",
        "/api/v1/findings",
        "/api/v1/findings/nothing",
        "/api/v1/nowhere",
    ];
    for candidate in [&key, &second, &unknown, &wrong_secret, &malformed] {
        for path in paths {
            let response = client
                .get(format!("{url}{path}"))
                .header("Authorization", format!("Api-Key {candidate}"))
                .send()
                .await
                .unwrap();
            assert!(response.status().as_u16() < 500, "{path}");
        }
        let response = client
            .post(format!("{url}/api/v1/ingestions"))
            .header("Authorization", format!("Api-Key {candidate}"))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&crate::fixtures::scan(2)).unwrap())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if candidate == &key || candidate == &second {
            assert_eq!(status, 202, "{body}");
            let id = body["data"]["id"].as_str().unwrap().to_string();
            let mut done = false;
            for _ in 0..300 {
                let job: Value = client
                    .get(format!("{url}/api/v1/ingestions/{id}"))
                    .header("Authorization", format!("Api-Key {candidate}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if job["data"]["attributes"]["status"] == "completed" {
                    done = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(done, "job {id} completed");
        } else {
            assert_eq!(status, 401, "{body}");
        }
    }

    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("dev exits after Ctrl-C")
        .unwrap();
    out_task.await.unwrap();
    err_task.await.unwrap();

    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    let banner = [
        format!("API key (shown once): {key}"),
        format!("  export KEY={key}"),
    ];
    let (shown, logged): (Vec<String>, Vec<String>) = stdout
        .into_iter()
        .chain(stderr)
        .partition(|line| banner.contains(line));
    assert_eq!(shown.len(), 2, "the banner shows the key twice: {shown:?}");
    // The run really logged at trace level: the SDK's and the service's own lines.
    assert!(logged.len() > 200, "only {} log lines", logged.len());
    let all = logged.join("\n");
    assert!(all.contains("ingestion accepted"), "service logs present");
    assert!(all.contains("GetItem"), "SDK logs present");
    for (what, needle) in [
        ("the dev key", key.as_str()),
        ("the dev key's secret", secret_of(&key)),
        ("the second key", second.as_str()),
        ("the second key's secret", secret_of(&second)),
        ("the unknown key's secret", secret_of(&unknown)),
        ("the wrong secret", secret_of(&wrong_secret)),
        ("the malformed key", malformed.as_str()),
    ] {
        let leaks: Vec<&String> = logged.iter().filter(|l| l.contains(needle)).collect();
        assert!(leaks.is_empty(), "{what} is in the logs: {leaks:?}");
    }
    assert!(
        !all.to_ascii_lowercase().contains("api-key pk_"),
        "an Authorization header is in the logs"
    );
}
