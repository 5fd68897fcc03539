//! GET /api/v1/ingestions: every filter, sort and pagination edge against a tenant seeded
//! with a few hundred jobs (and another tenant's jobs that must never appear), each
//! expectation computed here from the seeded jobs.

use std::cmp::Ordering;

use serde_json::{json, Value};
use shared::job::{Job, JobStatus};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::helpers::{get_json, spawn_app, TestApp};

const JOBS: usize = 300;

/// A job of `tenant` created at `at`, its id a UUIDv7 of that time.
pub fn job_at(tenant: &str, at: OffsetDateTime) -> Job {
    let mut job = Job::new_pending(tenant, Some(10), None, None);
    job.id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.unix_timestamp() as u64,
        at.nanosecond(),
    ))
    .to_string();
    job.object_key = format!("ingestions/{tenant}/{}.json", job.id);
    job.requested_at = at;
    job
}

/// Jobs spread over ~3 months, every status, started and completed times that do not
/// follow creation order, some without a file name.
pub fn varied_jobs(tenant: &str, n: usize) -> Vec<Job> {
    let start = datetime!(2026-01-01 03:00:00.250 UTC);
    (0..n)
        .map(|i| {
            let at = start + Duration::minutes(i as i64 * 431 + (i as i64 * 37) % 60);
            let mut job = job_at(tenant, at);
            job.file_name =
                (i % 5 != 0).then(|| format!("Prowler-Output-{:03}-{}.ocsf.json", i, i % 4));
            job.status = match i % 7 {
                0 => JobStatus::Pending,
                1 => JobStatus::Processing,
                2..=4 => JobStatus::Completed,
                _ => JobStatus::Failed,
            };
            if job.status != JobStatus::Pending {
                job.started_at = Some(at + Duration::minutes((i % 13) as i64 * 40));
            }
            if job.status.is_final() {
                job.completed_at =
                    Some(at + Duration::hours(((i * 11) % 50) as i64) + Duration::seconds(7));
                job.processed = 10;
            }
            job
        })
        .collect()
}

pub async fn seed(app: &TestApp, jobs: &[Job]) {
    for job in jobs {
        assert!(app.stack.deps.stores.jobs.create(job).await.unwrap());
    }
}

fn day(t: OffsetDateTime) -> String {
    t.date().to_string()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Orders like PostgreSQL: NULLs after everything ascending, before descending; ties end
/// newest first (the documented tie-breaker).
fn expected_order(jobs: &mut [&Job], keys: &[(&str, bool)]) {
    let value = |job: &Job, field: &str| match field {
        "inserted_at" | "requested_at" => Some(job.requested_at),
        "started_at" => job.started_at,
        "completed_at" => job.completed_at,
        other => panic!("{other}"),
    };
    jobs.sort_by(|a, b| {
        for (field, descending) in keys {
            let o = match (value(a, field), value(b, field)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (None, None) => Ordering::Equal,
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
            };
            let o = if *descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        b.requested_at.cmp(&a.requested_at)
    });
}

/// Walks every page of `query` (size 100) and returns the ids in order, checking each
/// page's pagination meta and links.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let mut out = Vec::new();
    let mut number = 1;
    loop {
        let path = format!("/api/v1/ingestions?{query}&page[size]=100&page[number]={number}");
        let (status, body) = get_json(app, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let count = body["meta"]["pagination"]["count"].as_u64().unwrap();
        let pages = count.div_ceil(100).max(1);
        assert_eq!(
            body["meta"]["pagination"],
            json!({"page": number, "pages": pages, "count": count}),
            "{path}"
        );
        out.extend(ids(&body));
        if number == pages {
            assert_eq!(body["links"]["next"], Value::Null);
            return (out, count);
        }
        assert!(body["links"]["next"].is_string());
        number += 1;
    }
}

#[tokio::test]
async fn every_filter_and_sort_matches_an_independent_expectation() {
    let app = spawn_app().await;
    let tenant = app.stack.tenant_id.clone();
    let jobs = varied_jobs(&tenant, JOBS);
    let others = varied_jobs("another-tenant", 40);
    seed(&app, &others).await;
    seed(&app, &jobs).await;

    let some_day = day(jobs[150].requested_at);
    let done_day = day(jobs[152].completed_at.unwrap());
    let from = day(jobs[60].requested_at);
    let to = day(jobs[200].requested_at);
    let id_part = jobs[123].id[24..32].to_string();
    type Pred = Box<dyn Fn(&Job) -> bool>;
    type Case = (String, Pred, Vec<(&'static str, bool)>);
    let cases: Vec<Case> = vec![
        (
            "sort=-inserted_at".into(),
            Box::new(|_| true),
            vec![("inserted_at", true)],
        ),
        (
            "sort=requested_at".into(),
            Box::new(|_| true),
            vec![("requested_at", false)],
        ),
        (
            "sort=started_at".into(),
            Box::new(|_| true),
            vec![("started_at", false)],
        ),
        (
            "sort=-started_at".into(),
            Box::new(|_| true),
            vec![("started_at", true)],
        ),
        (
            "sort=completed_at".into(),
            Box::new(|_| true),
            vec![("completed_at", false)],
        ),
        (
            "sort=-completed_at,inserted_at".into(),
            Box::new(|_| true),
            vec![("completed_at", true), ("inserted_at", false)],
        ),
        (
            "filter[status]=failed".into(),
            Box::new(|j: &Job| j.status == JobStatus::Failed),
            vec![("inserted_at", true)],
        ),
        (
            "filter[status__in]=pending,processing&sort=inserted_at".into(),
            Box::new(|j: &Job| matches!(j.status, JobStatus::Pending | JobStatus::Processing)),
            vec![("inserted_at", false)],
        ),
        (
            format!("filter[inserted_at]={some_day}"),
            Box::new({
                let d = some_day.clone();
                move |j: &Job| day(j.requested_at) == d
            }),
            vec![("inserted_at", true)],
        ),
        (
            format!("filter[inserted_at__gte]={from}&filter[inserted_at__lte]={to}"),
            Box::new({
                let (f, t) = (from.clone(), to.clone());
                move |j: &Job| day(j.requested_at) >= f && day(j.requested_at) <= t
            }),
            vec![("inserted_at", true)],
        ),
        (
            format!("filter[completed_at]={done_day}"),
            Box::new({
                let d = done_day.clone();
                move |j: &Job| j.completed_at.is_some_and(|c| day(c) == d)
            }),
            vec![("inserted_at", true)],
        ),
        (
            format!("filter[completed_at__gte]={to}&sort=completed_at"),
            Box::new({
                let t = to.clone();
                move |j: &Job| j.completed_at.is_some_and(|c| day(c) >= t)
            }),
            vec![("completed_at", false)],
        ),
        (
            format!("filter[completed_at__lte]={from}"),
            Box::new({
                let f = from.clone();
                move |j: &Job| j.completed_at.is_some_and(|c| day(c) <= f)
            }),
            vec![("inserted_at", true)],
        ),
        (
            "filter[search]=OUTPUT-1".into(),
            Box::new(|j: &Job| {
                j.file_name
                    .as_ref()
                    .is_some_and(|f| f.to_lowercase().contains("output-1"))
            }),
            vec![("inserted_at", true)],
        ),
        (
            format!("filter[search]={id_part}"),
            Box::new({
                let p = id_part.clone();
                move |j: &Job| j.id.contains(&p)
            }),
            vec![("inserted_at", true)],
        ),
        (
            "filter[search]=process".into(),
            Box::new(|j: &Job| {
                j.status == JobStatus::Processing
                    || j.id.contains("process")
                    || j.file_name
                        .as_ref()
                        .is_some_and(|f| f.to_lowercase().contains("process"))
            }),
            vec![("inserted_at", true)],
        ),
        (
            format!(
                "filter[status__in]=completed,failed&filter[inserted_at__gte]={from}\
                 &filter[completed_at__lte]={to}&filter[search]=-2.ocsf&sort=-started_at"
            ),
            Box::new({
                let (f, t) = (from.clone(), to.clone());
                move |j: &Job| {
                    j.status.is_final()
                        && day(j.requested_at) >= f
                        && j.completed_at.is_some_and(|c| day(c) <= t)
                        && j.file_name.as_ref().is_some_and(|n| n.contains("-2.ocsf"))
                }
            }),
            vec![("started_at", true)],
        ),
    ];
    for (query, pred, keys) in &cases {
        let mut expected: Vec<&Job> = jobs.iter().filter(|j| pred(j)).collect();
        assert!(!expected.is_empty(), "case {query} selects something");
        expected_order(&mut expected, keys);
        let expected_ids: Vec<String> = expected.iter().map(|j| j.id.clone()).collect();
        let (got, count) = all_pages(&app, query).await;
        assert_eq!(count, expected_ids.len() as u64, "{query}");
        assert_eq!(got, expected_ids, "{query}");
    }
    // Statuses matching nothing: an empty first page, not an error.
    let (status, body) = get_json(
        &app,
        "/api/v1/ingestions?filter[status]=failed&filter[status__in]=pending",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["meta"]["pagination"],
        json!({"page": 1, "pages": 1, "count": 0})
    );
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn pages_links_and_sparse_fieldsets() {
    let app = spawn_app().await;
    let tenant = app.stack.tenant_id.clone();
    let jobs = varied_jobs(&tenant, 205);
    seed(&app, &varied_jobs("another-tenant", 30)).await;
    seed(&app, &jobs).await;
    let newest_first: Vec<String> = jobs.iter().rev().map(|j| j.id.clone()).collect();

    // Default: newest first, 10 a page, 21 pages.
    let (status, body) = get_json(&app, "/api/v1/ingestions").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), newest_first[..10]);
    assert_eq!(
        body["meta"],
        json!({"version": "v1", "pagination": {"page": 1, "pages": 21, "count": 205}})
    );
    assert_eq!(
        body["links"],
        json!({
            "first": "/api/v1/ingestions?page%5Bnumber%5D=1",
            "last": "/api/v1/ingestions?page%5Bnumber%5D=21",
            "next": "/api/v1/ingestions?page%5Bnumber%5D=2",
            "prev": null,
        })
    );
    let first = &jobs[204];
    assert_eq!(body["data"][0]["type"], "ingestions");
    assert_eq!(
        body["data"][0]["attributes"]["status"],
        first.status.as_str()
    );
    assert_eq!(
        body["data"][0]["attributes"]["requested_at"],
        shared::time::format(first.requested_at)
    );

    // Last page, with other parameters carried into the links (sorted, encoded).
    let (status, body) = get_json(
        &app,
        "/api/v1/ingestions?sort=-inserted_at&page[size]=20&page[number]=11",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), newest_first[200..]);
    assert_eq!(
        body["links"],
        json!({
            "first": "/api/v1/ingestions?page%5Bnumber%5D=1&page%5Bsize%5D=20&sort=-inserted_at",
            "last": "/api/v1/ingestions?page%5Bnumber%5D=11&page%5Bsize%5D=20&sort=-inserted_at",
            "next": null,
            "prev": "/api/v1/ingestions?page%5Bnumber%5D=10&page%5Bsize%5D=20&sort=-inserted_at",
        })
    );

    // Size 1: a middle page has both neighbours.
    let (_, body) = get_json(&app, "/api/v1/ingestions?page[size]=1&page[number]=7").await;
    assert_eq!(ids(&body), [newest_first[6].clone()]);
    assert_eq!(
        body["meta"]["pagination"],
        json!({"page": 7, "pages": 205, "count": 205})
    );
    assert_eq!(
        body["links"]["prev"],
        "/api/v1/ingestions?page%5Bnumber%5D=6&page%5Bsize%5D=1"
    );
    assert_eq!(
        body["links"]["next"],
        "/api/v1/ingestions?page%5Bnumber%5D=8&page%5Bsize%5D=1"
    );

    // Size 100 in key order, oldest first: pages 1..3 cover everything exactly once.
    let mut oldest_first = Vec::new();
    for number in 1..=3 {
        let (_, body) = get_json(
            &app,
            &format!("/api/v1/ingestions?sort=inserted_at&page[size]=100&page[number]={number}"),
        )
        .await;
        oldest_first.extend(ids(&body));
    }
    let expected: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(oldest_first, expected);

    // A page past the end is a 400 naming page[number].
    let (status, body) = get_json(&app, "/api/v1/ingestions?page[number]=22").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"status": "400", "code": "invalid", "title": "Invalid request",
            "detail": "page[number] 22 is past the last page (21)",
            "source": {"parameter": "page[number]"}}], "meta": {"version": "v1"}})
    );
    let (status, _) = get_json(
        &app,
        "/api/v1/ingestions?filter[status]=failed&page[number]=2&page[size]=100",
    )
    .await;
    assert_eq!(status, 400, "59 failed jobs fit one page of 100");

    // Sparse fieldsets keep only the named attributes, on lists and on one job.
    let (_, body) = get_json(
        &app,
        "/api/v1/ingestions?fields[ingestions]=status,summary&page[size]=2",
    )
    .await;
    let newest = &jobs[204];
    assert_eq!(
        body["data"][0],
        json!({"type": "ingestions", "id": newest.id,
               "attributes": {"status": newest.status.as_str(),
                              "summary": {"total": 10, "processed": newest.processed, "invalid": 0}},
               "links": {"self": format!("/api/v1/ingestions/{}", newest.id)}})
    );
    let (status, body) = get_json(
        &app,
        &format!(
            "/api/v1/ingestions/{}?fields[ingestions]=completed_at",
            jobs[3].id
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["attributes"],
        json!({"completed_at": jobs[3].completed_at.map(shared::time::format)})
    );
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_naming_it() {
    let app = spawn_app().await;
    seed(&app, &varied_jobs(&app.stack.tenant_id.clone(), 3)).await;
    let cases = [
        ("filter[color]=red", "filter[color]", "filter[color] is not a supported query parameter here; supported: filter[status], filter[status__in], filter[completed_at], filter[completed_at__gte], filter[completed_at__lte], filter[inserted_at], filter[inserted_at__gte], filter[inserted_at__lte], filter[search], fields[ingestions], sort, page[number], page[size]"),
        ("filter[status]=done", "filter[status]", "filter[status] must be one of pending, processing, completed, failed, not \"done\""),
        ("filter[status__in]=failed,Done", "filter[status__in]", "filter[status__in] must be one of pending, processing, completed, failed, not \"Done\""),
        ("filter[completed_at]=2026-02-30", "filter[completed_at]", "filter[completed_at] must be a date YYYY-MM-DD, not \"2026-02-30\""),
        ("filter[inserted_at__gte]=2026-1-5", "filter[inserted_at__gte]", "filter[inserted_at__gte] must be a date YYYY-MM-DD, not \"2026-1-5\""),
        ("filter[inserted_at__lte]=2026-01-05T00:00:00Z", "filter[inserted_at__lte]", "filter[inserted_at__lte] must be a date YYYY-MM-DD, not \"2026-01-05T00:00:00Z\""),
        ("sort=-file_size", "sort", "cannot sort by \"-file_size\"; sort by any of inserted_at, requested_at, started_at, completed_at (prefix - for descending)"),
        ("fields[ingestions]=status,owner", "fields[ingestions]", "fields[ingestions] names unknown field \"owner\"; known: status, summary, requested_at, started_at, completed_at, file_name, file_size, failure_reason"),
        ("page[size]=101", "page[size]", "page[size] must be at most 100"),
        ("page[size]=0", "page[size]", "page[size] must be a positive integer, not \"0\""),
        ("page[number]=first", "page[number]", "page[number] must be a positive integer, not \"first\""),
        ("page[number]=1.5", "page[number]", "page[number] must be a positive integer, not \"1.5\""),
        ("page[number]=2", "page[number]", "page[number] 2 is past the last page (1)"),
    ];
    for (query, parameter, detail) in cases {
        let (status, body) = get_json(&app, &format!("/api/v1/ingestions?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(
            body,
            json!({"errors": [{"status": "400", "code": "invalid", "title": "Invalid request",
                "detail": detail, "source": {"parameter": parameter}}],
                "meta": {"version": "v1"}}),
            "{query}"
        );
    }
    // Wrong methods and unknown paths stay JSON:API errors.
    let response = app
        .client
        .put(app.url("/api/v1/findings"))
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let (status, body) = get_json(&app, "/api/v1/ingestions/x/errors/y").await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], "not_found");
}
