//! The README's `dev` command: it starts everything, prints a working key, and Ctrl-C
//! stops everything it started.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::venv;

#[tokio::test]
async fn dev_serves_the_api_with_a_printed_key_and_stops_on_ctrl_c() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocsf-ingest"))
        .args(["dev", "--port", "0", "--moto-port", "0", "--venv"])
        .arg(venv())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = crate::helpers::Banner::default();
    let read_banner = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if banner.read(&line) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_banner)
        .await
        .expect("dev printed its banner within 60 s");
    let (url, moto, key) = (
        banner.url.unwrap(),
        banner.moto.unwrap(),
        banner.key.unwrap(),
    );

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/api/v1/ingestions"))
        .header("Authorization", format!("Api-Key {key}"))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&crate::fixtures::scan(2)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut status = String::new();
    for _ in 0..300 {
        let job: Value = client
            .get(format!("{url}/api/v1/ingestions/{id}"))
            .header("Authorization", format!("Api-Key {key}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = job["data"]["attributes"]["status"]
            .as_str()
            .unwrap()
            .to_string();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "completed");

    // Ctrl-C: the process exits and takes moto with it.
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("dev exits after Ctrl-C")
        .unwrap();
    assert!(exit.success(), "{exit}");
    let moto_port: u16 = moto.rsplit(':').next().unwrap().parse().unwrap();
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", moto_port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        closed,
        "moto still listens on {moto_port} after dev stopped"
    );
}
