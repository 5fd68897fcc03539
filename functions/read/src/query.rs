//! Query-string parameters of the read endpoints, checked against API.md: anything
//! unknown or malformed is a 400 naming the parameter in `source.parameter`.

use shared::job::JobStatus;
use shared::jsonapi::{ErrorSource, PageRequest, MAX_PAGE_SIZE};
use shared::store::{DayRange, FindingFilter, JobFilter, JobSort, JobSortField};
use shared::ApiError;
use time::macros::format_description;
use time::Date;

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        Self { pairs }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The last value given for `name` (as Django reads a repeated parameter).
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn reject_unknown(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((name, _)) => Err(invalid(
                name,
                format!(
                    "{name} is not a supported query parameter here; supported: {}",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    fn page(&self) -> Result<PageRequest, ApiError> {
        let mut page = PageRequest::default();
        if let Some(v) = self.get("page[number]") {
            page.number = positive("page[number]", v)?;
        }
        if let Some(v) = self.get("page[size]") {
            page.size = positive("page[size]", v)?;
            if page.size > MAX_PAGE_SIZE {
                return Err(invalid(
                    "page[size]",
                    format!("page[size] must be at most {MAX_PAGE_SIZE}"),
                ));
            }
        }
        Ok(page)
    }

    /// A filter value that must not be empty.
    fn filter(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            Some(v) if v.trim().is_empty() => {
                Err(invalid(name, format!("{name} must not be empty")))
            }
            other => Ok(other.map(str::trim)),
        }
    }
}

/// A 400 `invalid` error about one query parameter.
pub fn invalid(parameter: &str, detail: impl Into<String>) -> ApiError {
    ApiError::invalid_at(detail, ErrorSource::Parameter(parameter.to_string()))
}

/// The error for a page number past the last page (see docs/read-api.md).
pub fn past_the_end(page: PageRequest, count: u64) -> ApiError {
    invalid(
        "page[number]",
        format!(
            "page[number] {} is past the last page ({})",
            page.number,
            page.pages(count)
        ),
    )
}

fn positive(name: &str, value: &str) -> Result<u64, ApiError> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(invalid(
            name,
            format!("{name} must be a positive integer, not {value:?}"),
        )),
    }
}

fn day(name: &str, value: &str) -> Result<Date, ApiError> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| {
        invalid(
            name,
            format!("{name} must be a date YYYY-MM-DD, not {value:?}"),
        )
    })
}

fn status(name: &str, value: &str) -> Result<JobStatus, ApiError> {
    JobStatus::parse(value).ok_or_else(|| {
        invalid(
            name,
            format!("{name} must be one of pending, processing, completed, failed, not {value:?}"),
        )
    })
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim)
}

/// Attributes of an `ingestions` resource a sparse fieldset may name.
pub const INGESTION_FIELDS: [&str; 8] = [
    "status",
    "summary",
    "requested_at",
    "started_at",
    "completed_at",
    "file_name",
    "file_size",
    "failure_reason",
];

/// `fields[ingestions]`: the attributes to keep, `None` for all.
fn fieldset(query: &Query) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = query.get("fields[ingestions]") else {
        return Ok(None);
    };
    let mut fields = Vec::new();
    for field in list(value).filter(|f| !f.is_empty()) {
        if !INGESTION_FIELDS.contains(&field) {
            return Err(invalid(
                "fields[ingestions]",
                format!(
                    "fields[ingestions] names unknown field {field:?}; known: {}",
                    INGESTION_FIELDS.join(", ")
                ),
            ));
        }
        fields.push(field.to_string());
    }
    Ok(Some(fields))
}

/// GET /api/v1/ingestions/{id}
pub fn ingestion(query: &Query) -> Result<Option<Vec<String>>, ApiError> {
    query.reject_unknown(&["fields[ingestions]"])?;
    fieldset(query)
}

/// What GET /api/v1/ingestions asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestionList {
    pub filter: JobFilter,
    pub sort: Vec<JobSort>,
    pub fields: Option<Vec<String>>,
    pub page: PageRequest,
}

pub fn ingestion_list(query: &Query) -> Result<IngestionList, ApiError> {
    query.reject_unknown(&[
        "filter[status]",
        "filter[status__in]",
        "filter[completed_at]",
        "filter[completed_at__gte]",
        "filter[completed_at__lte]",
        "filter[inserted_at]",
        "filter[inserted_at__gte]",
        "filter[inserted_at__lte]",
        "filter[search]",
        "fields[ingestions]",
        "sort",
        "page[number]",
        "page[size]",
    ])?;
    let mut filter = JobFilter::default();
    if let Some(v) = query.filter("filter[status]")? {
        filter.statuses = Some(vec![status("filter[status]", v)?]);
    }
    if let Some(v) = query.filter("filter[status__in]")? {
        let any: Vec<JobStatus> = list(v)
            .map(|s| status("filter[status__in]", s))
            .collect::<Result<_, _>>()?;
        filter.statuses = Some(match filter.statuses {
            Some(one) => one.into_iter().filter(|s| any.contains(s)).collect(),
            None => any,
        });
    }
    for (field, range) in [
        ("completed_at", &mut filter.completed_at),
        ("inserted_at", &mut filter.inserted_at),
    ] {
        date_filters(query, field, range)?;
    }
    filter.search = query
        .get("filter[search]")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let mut sort = Vec::new();
    if let Some(v) = query.get("sort") {
        for key in list(v) {
            let (descending, name) = match key.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, key),
            };
            let field = JobSortField::parse(name).ok_or_else(|| {
                invalid(
                    "sort",
                    format!(
                        "cannot sort by {key:?}; sort by any of {} (prefix - for descending)",
                        JobSortField::NAMES.join(", ")
                    ),
                )
            })?;
            sort.push(JobSort { field, descending });
        }
    }
    Ok(IngestionList {
        filter,
        sort,
        fields: fieldset(query)?,
        page: query.page()?,
    })
}

fn date_filters(query: &Query, field: &str, range: &mut DayRange) -> Result<(), ApiError> {
    let exact = format!("filter[{field}]");
    if let Some(v) = query.filter(&exact)? {
        let d = day(&exact, v)?;
        range.at_least(d);
        range.at_most(d);
    }
    let gte = format!("filter[{field}__gte]");
    if let Some(v) = query.filter(&gte)? {
        range.at_least(day(&gte, v)?);
    }
    let lte = format!("filter[{field}__lte]");
    if let Some(v) = query.filter(&lte)? {
        range.at_most(day(&lte, v)?);
    }
    Ok(())
}

/// GET /api/v1/ingestions/{id}/errors
pub fn error_list(query: &Query) -> Result<PageRequest, ApiError> {
    query.reject_unknown(&["page[number]", "page[size]"])?;
    query.page()
}

/// What GET /api/v1/findings asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingList {
    pub filter: FindingFilter,
    pub descending: bool,
    pub page: PageRequest,
}

const SEVERITIES: [&str; 8] = [
    "Unknown",
    "Informational",
    "Low",
    "Medium",
    "High",
    "Critical",
    "Fatal",
    "Other",
];

const DELTAS: [&str; 3] = ["new", "changed", "unchanged"];

fn severity(name: &str, value: &str) -> Result<String, ApiError> {
    SEVERITIES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(value))
        .map(|s| s.to_string())
        .ok_or_else(|| {
            invalid(
                name,
                format!(
                    "{name} must be one of {} (any case), not {value:?}",
                    SEVERITIES.join(", ")
                ),
            )
        })
}

pub fn finding_list(query: &Query) -> Result<FindingList, ApiError> {
    query.reject_unknown(&[
        "filter[ingestion]",
        "filter[severity]",
        "filter[severity__in]",
        "filter[status_code]",
        "filter[provider]",
        "filter[account_uid]",
        "filter[region]",
        "filter[check_id]",
        "filter[delta]",
        "sort",
        "page[number]",
        "page[size]",
    ])?;
    let text = |name: &str| query.filter(name).map(|v| v.map(str::to_string));
    let mut filter = FindingFilter {
        ingestion_id: text("filter[ingestion]")?,
        severities: None,
        status_code: text("filter[status_code]")?,
        provider: text("filter[provider]")?,
        account_uid: text("filter[account_uid]")?,
        region: text("filter[region]")?,
        check_id: text("filter[check_id]")?,
        delta: None,
    };
    if let Some(v) = query.filter("filter[severity]")? {
        filter.severities = Some(vec![severity("filter[severity]", v)?]);
    }
    if let Some(v) = query.filter("filter[severity__in]")? {
        let any: Vec<String> = list(v)
            .map(|s| severity("filter[severity__in]", s))
            .collect::<Result<_, _>>()?;
        filter.severities = Some(match filter.severities {
            Some(one) => one.into_iter().filter(|s| any.contains(s)).collect(),
            None => any,
        });
    }
    if let Some(v) = query.filter("filter[delta]")? {
        if !DELTAS.contains(&v) {
            return Err(invalid(
                "filter[delta]",
                format!("filter[delta] must be one of new, changed, unchanged, not {v:?}"),
            ));
        }
        filter.delta = Some(v.to_string());
    }
    let descending = match query.get("sort") {
        None | Some("uid") => false,
        Some("-uid") => true,
        Some(other) => {
            return Err(invalid(
                "sort",
                format!("cannot sort findings by {other:?}; sort by uid or -uid"),
            ))
        }
    };
    Ok(FindingList {
        filter,
        descending,
        page: query.page()?,
    })
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn q(raw: &str) -> Query {
        Query::parse(Some(raw))
    }

    fn parameter(err: ApiError) -> String {
        match err {
            ApiError::Invalid {
                at: Some(ErrorSource::Parameter(p)),
                ..
            } => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_strings_are_form_decoded() {
        assert_eq!(
            q("filter%5Bsearch%5D=a+b%2Cc&sort=-inserted_at&x").pairs(),
            [
                ("filter[search]".to_string(), "a b,c".to_string()),
                ("sort".to_string(), "-inserted_at".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(q("a=%4").pairs()[0].1, "%4");
        assert_eq!(q("a=%zz%41").pairs()[0].1, "%zzA");
    }

    #[test]
    fn a_full_ingestion_list_query_parses() {
        let parsed = ingestion_list(&q(
            "filter[status__in]=completed,failed&filter[completed_at__gte]=2026-01-05\
             &filter[completed_at__lte]=2026-01-09&filter[inserted_at]=2026-01-04\
             &filter[search]=Scan&fields[ingestions]=status,summary\
             &sort=-completed_at,inserted_at&page[number]=2&page[size]=100",
        ))
        .unwrap();
        assert_eq!(
            parsed.filter,
            JobFilter {
                statuses: Some(vec![JobStatus::Completed, JobStatus::Failed]),
                inserted_at: DayRange {
                    from: Some(date!(2026 - 01 - 04)),
                    to: Some(date!(2026 - 01 - 04))
                },
                completed_at: DayRange {
                    from: Some(date!(2026 - 01 - 05)),
                    to: Some(date!(2026 - 01 - 09))
                },
                search: Some("scan".into()),
            }
        );
        assert_eq!(
            parsed.sort,
            [
                JobSort {
                    field: JobSortField::CompletedAt,
                    descending: true
                },
                JobSort {
                    field: JobSortField::InsertedAt,
                    descending: false
                }
            ]
        );
        assert_eq!(parsed.fields, Some(vec!["status".into(), "summary".into()]));
        assert_eq!(
            parsed.page,
            PageRequest {
                number: 2,
                size: 100
            }
        );
        let defaults = ingestion_list(&Query::parse(None)).unwrap();
        assert!(defaults.filter.is_empty() && defaults.sort.is_empty());
        assert_eq!(defaults.page, PageRequest::default());
        let both = ingestion_list(&q(
            "filter[status]=failed&filter[status__in]=pending,failed",
        ))
        .unwrap();
        assert_eq!(both.filter.statuses, Some(vec![JobStatus::Failed]));
    }

    #[test]
    fn bad_parameters_name_themselves() {
        for (raw, param) in [
            ("filter[nope]=1", "filter[nope]"),
            ("include=x", "include"),
            ("filter[status]=done", "filter[status]"),
            ("filter[status]=", "filter[status]"),
            ("filter[status__in]=pending,done", "filter[status__in]"),
            ("filter[completed_at]=2026-13-01", "filter[completed_at]"),
            (
                "filter[inserted_at__gte]=yesterday",
                "filter[inserted_at__gte]",
            ),
            (
                "filter[inserted_at__lte]=2026-02-30",
                "filter[inserted_at__lte]",
            ),
            ("sort=size", "sort"),
            ("sort=inserted_at,", "sort"),
            ("fields[ingestions]=status,secret", "fields[ingestions]"),
            ("fields[findings]=uid", "fields[findings]"),
            ("page[size]=101", "page[size]"),
            ("page[size]=0", "page[size]"),
            ("page[number]=two", "page[number]"),
            ("page[number]=0", "page[number]"),
            ("page[number]=-1", "page[number]"),
        ] {
            let err = ingestion_list(&q(raw)).expect_err(raw);
            assert_eq!(err.code(), "invalid", "{raw}");
            assert_eq!(parameter(err), param, "{raw}");
        }
        for (raw, param) in [
            ("filter[severity]=severe", "filter[severity]"),
            ("filter[severity__in]=high,nope", "filter[severity__in]"),
            ("filter[delta]=gone", "filter[delta]"),
            ("filter[region]=", "filter[region]"),
            ("filter[status]=FAIL", "filter[status]"),
            ("sort=severity", "sort"),
        ] {
            assert_eq!(parameter(finding_list(&q(raw)).expect_err(raw)), param);
        }
        assert_eq!(
            parameter(error_list(&q("filter[code]=x")).unwrap_err()),
            "filter[code]"
        );
    }

    #[test]
    fn finding_filters_parse_with_canonical_severities() {
        let parsed = finding_list(&q(
            "filter[severity__in]=high,CRITICAL&filter[region]=eu-west-1&filter[delta]=new&sort=-uid",
        ))
        .unwrap();
        assert_eq!(
            parsed.filter,
            FindingFilter {
                severities: Some(vec!["High".into(), "Critical".into()]),
                region: Some("eu-west-1".into()),
                delta: Some("new".into()),
                ..FindingFilter::default()
            }
        );
        assert!(parsed.descending);
    }

    #[test]
    fn a_page_past_the_end_names_page_number() {
        let err = past_the_end(
            PageRequest {
                number: 4,
                size: 10,
            },
            25,
        );
        assert_eq!(err.to_string(), "page[number] 4 is past the last page (3)");
        assert_eq!(parameter(err), "page[number]");
    }
}
