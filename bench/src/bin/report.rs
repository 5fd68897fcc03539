//! One table of every benchmark's figures, with ratios and targets, in Markdown (what
//! BENCHMARKS.md shows). Reads `target/bench/results/*.json`, the peer's included, and
//! the sizes of the release Lambda binaries.

use bench::results::load;
use serde_json::Value;

const BINARIES: &[&str] = &["upload", "processor", "read"];

fn main() {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |what: &str, figure: String, target: &str, verdict: Option<bool>| {
        let verdict = match verdict {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "",
        };
        rows.push([what.into(), figure, target.into(), verdict.into()]);
    };
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);

    if let (Some(core), Some(peer)) = (load("core"), load("peer")) {
        for (name, c) in core.as_object().into_iter().flatten() {
            let p = &peer[name];
            let records = c["records"].as_u64().unwrap_or(0);
            let mb = c["bytes"].as_u64().unwrap_or(0) as f64 / 1e6;
            let label = format!("{name} ({records} records, {mb:.1} MB)");
            let core_mb = f(&c["core"]["mb_per_s"]);
            let ceiling = f(&c["ceiling_serde_json_ignored_any"]["mb_per_s"]);
            let peer_mb = f(&p["json_loads_model_validate"]["mb_per_s"]);
            row(
                &format!("core: parse + validate + transform, 1 core — {label}"),
                format!(
                    "{core_mb:.0} MB/s, {:.0} records/s (stages: scan {:.0} MB/s, + check {:.0}; for comparison: scan, then check each record apart {:.0}; scan + a full Value parse {:.0})",
                    f(&c["core"]["records_per_s"]),
                    f(&c["scan"]["mb_per_s"]),
                    f(&c["scan_check"]["mb_per_s"]),
                    f(&c["scan_then_check"]["mb_per_s"]),
                    f(&c["scan_parse"]["mb_per_s"])
                ),
                "",
                None,
            );
            row(
                &format!("ceiling: serde_json tokenizing (IgnoredAny) — {name}"),
                format!("{ceiling:.0} MB/s"),
                "",
                None,
            );
            row(
                &format!("peer: json.loads + DetectionFinding.model_validate — {name}"),
                format!(
                    "{peer_mb:.0} MB/s, {:.0} records/s (json.loads alone {:.0} MB/s)",
                    f(&p["json_loads_model_validate"]["records_per_s"]),
                    f(&p["json_loads"]["mb_per_s"])
                ),
                "",
                None,
            );
            let vs_peer = core_mb / peer_mb;
            row(
                &format!("ratio core / peer — {name}"),
                format!("{vs_peer:.2}×"),
                "≥ 10×",
                Some(vs_peer >= 10.0),
            );
            let vs_ceiling = core_mb / ceiling;
            row(
                &format!("ratio core / ceiling — {name}"),
                format!("{:.0} %", vs_ceiling * 100.0),
                "≥ 40 %",
                Some(vs_ceiling >= 0.4),
            );
        }
    }

    for (results, what) in [
        ("memory", "peak RSS"),
        (
            "processor_memory",
            "peak RSS of the whole processor against moto (S3 stream, SDK, lookups and writes)",
        ),
    ] {
        let Some(memory) = load(results) else {
            continue;
        };
        let mut files: Vec<_> = memory.as_object().into_iter().flatten().collect();
        files.sort_by_key(|(_, m)| m["file_bytes"].as_u64());
        for (name, m) in files {
            let rss = f(&m["peak_rss_bytes"]) / 1_048_576.0;
            row(
                &format!(
                    "{what}, {name} file ({} records, {:.1} s)",
                    m["records"],
                    f(&m["seconds"])
                ),
                format!("{rss:.1} MiB"),
                "≤ 64 MB, flat",
                Some(rss * 1_048_576.0 <= 64e6),
            );
        }
    }

    if let Some(requests) = load("requests") {
        for r in requests["rounds"].as_array().into_iter().flatten() {
            let label = r["label"].as_str().unwrap_or("");
            let findings = r["findings"].as_u64().unwrap_or(0);
            let writes = f(&r["dynamodb_write_requests_per_1000"]);
            row(
                &format!(
                    "DynamoDB write requests per 1,000 findings — {label}, {findings} findings"
                ),
                format!("{writes:.1}"),
                "≤ 42",
                Some(writes <= 42.0),
            );
            row(
                &format!("DynamoDB read requests per 1,000 findings — {label}"),
                format!("{:.1}", f(&r["dynamodb_read_requests_per_1000"])),
                "",
                None,
            );
            // The target is the findings' own writes (item + index entry); the job's few
            // updates and the error items are shown beside them.
            let wru = f(&r["finding_write_units_per_finding"]);
            row(
                &format!("write units per finding — {label}"),
                format!(
                    "{wru:.3} for the findings (items avg {:.0} B, max {} B: 1 unit each; index entries {:.2} per finding); {:.3} with the job's own writes",
                    f(&r["finding_item_avg_bytes"]),
                    r["finding_item_max_bytes"],
                    f(&r["index_write_units_per_finding"]),
                    f(&r["write_units_per_finding"])
                ),
                "≤ 1",
                Some(wru <= 1.0),
            );
            row(
                &format!("read units per finding — {label}"),
                format!("{:.2}", f(&r["read_units_per_finding"])),
                "",
                None,
            );
            row(
                &format!("S3 / SQS requests per job — {label}"),
                format!(
                    "{} / {}",
                    r["s3_requests_per_job"], r["sqs_requests_per_job"]
                ),
                "",
                None,
            );
            let cost = &r["cost_per_million_findings"];
            let total = f(&cost["total"]);
            row(
                &format!("AWS cost per million findings — {label}"),
                format!(
                    "${total:.3} (DynamoDB writes {:.3}, reads {:.3}, S3 {:.4}, SQS {:.4}, Lambda {:.4}, HTTP API {:.4})",
                    f(&cost["dynamodb_write_units"]),
                    f(&cost["dynamodb_read_units"]),
                    f(&cost["s3"]),
                    f(&cost["sqs"]),
                    f(&cost["lambda"]),
                    f(&cost["http_api"])
                ),
                "≤ $1.00",
                Some(total <= 1.0),
            );
        }
    }

    if let Some(e2e) = load("e2e") {
        let samples = e2e["rounds"].as_array().cloned().unwrap_or_default();
        for round in [1, 2] {
            let mut runs: Vec<&Value> = samples.iter().filter(|r| r["round"] == round).collect();
            if runs.is_empty() {
                continue;
            }
            runs.sort_by(|a, b| f(&a["ratio"]).total_cmp(&f(&b["ratio"])));
            let median = runs[runs.len() / 2];
            let ratio = f(&median["ratio"]);
            let (low, high) = (f(&runs[0]["ratio"]), f(&runs[runs.len() - 1]["ratio"]));
            row(
                &format!(
                    "end to end, {} findings, round {round} — 202 → completed vs BatchWriteItem baseline (median of {} runs)",
                    median["records"],
                    runs.len()
                ),
                format!(
                    "{:.2} s vs {:.2} s = {ratio:.2}× (all runs {low:.2}–{high:.2}×; upload to 202: {:.2} s, {} B gzip)",
                    f(&median["accepted_to_completed_seconds"]),
                    f(&median["baseline_batch_write_seconds"]),
                    f(&median["upload_to_202_seconds"]),
                    median["upload_body_bytes"]
                ),
                "≤ 1.3×",
                Some(ratio <= 1.3),
            );
        }
    }

    if let Some(moto) = load("moto_reads") {
        row(
            &format!(
                "moto alone (boto3 client), {} finding items: BatchGetItem of existing vs missing keys vs BatchWriteItem",
                moto["items"]
            ),
            format!(
                "{:.2} s vs {:.2} s vs {:.2} s ({:.2} ms per existing item read; {:.2} ms reading the 7 separate attributes instead of `lookup_state`)",
                f(&moto["batch_get_existing_seconds"]),
                f(&moto["batch_get_missing_seconds"]),
                f(&moto["batch_write_seconds"]),
                f(&moto["ms_per_existing_item_read"]),
                f(&moto["ms_per_existing_item_read_seven"])
            ),
            "",
            None,
        );
    }

    if let Some(latency) = load("upload_latency") {
        for (name, l) in latency.as_object().into_iter().flatten() {
            row(
                &format!(
                    "upload latency, {name} multipart ({} B file, {} samples)",
                    l["file_bytes"], l["samples"]
                ),
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms",
                    f(&l["p50_ms"]),
                    f(&l["p99_ms"])
                ),
                "",
                None,
            );
        }
    }

    let release = bench::workspace_root().join("target").join("release");
    for name in BINARIES {
        if let Ok(meta) = std::fs::metadata(release.join(name)) {
            let mb = meta.len() as f64 / 1_048_576.0;
            row(
                &format!("Lambda bootstrap `{name}`, x86_64 release, stripped"),
                format!("{mb:.2} MiB"),
                "≤ 10 MB",
                Some(meta.len() as f64 <= 10e6),
            );
        }
    }

    println!("| what | figure | target | |");
    println!("|---|---|---|---|");
    for [what, figure, target, verdict] in rows {
        println!("| {what} | {figure} | {target} | {verdict} |");
    }
    println!();
    println!("Prices (us-east-1, on-demand, free tiers ignored):");
    for (what, price) in bench::prices::describe() {
        println!("- {what}: {price}");
    }
}
