//! Per-record rules for OCSF Detection Finding (class 2004). A record that breaks any
//! rule is invalid; every broken rule is reported with a stable `code` and the JSON
//! pointer of the offending member.

use serde_json::{Map, Value};

/// Largest serialized record accepted.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
pub(super) const MAX_UID_CHARS: usize = 1024;
pub(super) const DETECTION_FINDING: u64 = 2004;
pub(super) const FINDINGS_CATEGORY: u64 = 2;
pub(super) const ACTIVITY_IDS: [u64; 5] = [0, 1, 2, 3, 99];
pub(super) const SEVERITIES: [(u64, &str); 8] = [
    (0, "Unknown"),
    (1, "Informational"),
    (2, "Low"),
    (3, "Medium"),
    (4, "High"),
    (5, "Critical"),
    (6, "Fatal"),
    (99, "Other"),
];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: &'static str,
    pub pointer: String,
    pub detail: String,
}

impl RecordError {
    fn new(code: &'static str, pointer: &str, detail: impl Into<String>) -> Self {
        Self {
            code,
            pointer: pointer.to_string(),
            detail: detail.into(),
        }
    }
}

/// What the service indexes from a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    pub uid: String,
    pub severity: &'static str,
    pub status_code: Option<String>,
    pub provider: Option<String>,
    pub account_uid: Option<String>,
    pub region: Option<String>,
    pub check_id: Option<String>,
}

/// Validates one record given its serialized size and parsed value.
pub fn validate_record(size: usize, value: &Value) -> Result<ValidRecord, Vec<RecordError>> {
    if size > MAX_RECORD_BYTES {
        return Err(vec![RecordError::new(
            "record_too_large",
            "",
            format!("the record is {size} bytes; at most {MAX_RECORD_BYTES} are accepted"),
        )]);
    }
    let Some(record) = value.as_object() else {
        return Err(vec![RecordError::new(
            "not_an_object",
            "",
            format!(
                "each record must be a JSON object, found {}",
                type_name(value)
            ),
        )]);
    };
    let mut errors = Vec::new();
    let mut check = Checker {
        errors: &mut errors,
    };

    match check.unsigned(record, "", "class_uid") {
        Some(DETECTION_FINDING) | None => {}
        Some(_) => check.errors.push(RecordError::new(
            "unsupported_class",
            "/class_uid",
            "only Detection Finding (2004) is accepted",
        )),
    }
    if let Some(category) = check.unsigned(record, "", "category_uid") {
        if category != FINDINGS_CATEGORY {
            check.invalid_value("/category_uid", "category_uid must be 2 (Findings)");
        }
    }
    let activity = check.unsigned(record, "", "activity_id");
    if let Some(activity) = activity {
        if !ACTIVITY_IDS.contains(&activity) {
            check.invalid_value("/activity_id", "activity_id must be one of 0, 1, 2, 3, 99");
        }
    }
    if let Some(type_uid) = check.unsigned(record, "", "type_uid") {
        if let Some(activity) = activity.filter(|a| ACTIVITY_IDS.contains(a)) {
            if type_uid != 200_400 + activity {
                check.invalid_value(
                    "/type_uid",
                    format!(
                        "type_uid must be {} (200400 + activity_id)",
                        200_400 + activity
                    ),
                );
            }
        }
    }
    let severity = check.severity(record);
    check.unsigned(record, "", "time");

    if let Some(metadata) = check.object(record, "", "metadata") {
        check.object(metadata, "/metadata", "product");
        check.string(metadata, "/metadata", "version");
    }
    let mut uid = None;
    if let Some(info) = check.object(record, "", "finding_info") {
        uid = check.string(info, "/finding_info", "uid");
        if let Some(u) = uid {
            if u.is_empty() {
                check.invalid_value("/finding_info/uid", "finding_info.uid must not be empty");
            } else if u.chars().count() > MAX_UID_CHARS {
                check.invalid_value(
                    "/finding_info/uid",
                    format!("finding_info.uid must be at most {MAX_UID_CHARS} characters"),
                );
            }
        }
        check.string(info, "/finding_info", "title");
    }
    check.resources(record);
    let mut provider = None;
    let mut region = None;
    let mut account_uid = None;
    if record.contains_key("cloud") {
        if let Some(cloud) = check.object(record, "", "cloud") {
            provider = check.string(cloud, "/cloud", "provider");
            region = cloud.get("region").and_then(Value::as_str);
            account_uid = cloud
                .get("account")
                .and_then(|a| a.get("uid"))
                .and_then(Value::as_str);
        }
    }
    if record.contains_key("status_id") {
        check.integer(record, "", "status_id");
    }
    let status_code = if record.contains_key("status_code") {
        check.string(record, "", "status_code")
    } else {
        None
    };
    if record.contains_key("status") {
        check.string(record, "", "status");
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let check_id = record
        .get("metadata")
        .and_then(|m| m.get("event_code"))
        .and_then(Value::as_str);
    Ok(ValidRecord {
        uid: uid.unwrap_or_default().to_string(),
        severity: severity.unwrap_or("Unknown"),
        status_code: status_code.map(str::to_string),
        provider: provider.map(str::to_string),
        account_uid: account_uid.map(str::to_string),
        region: region.map(str::to_string),
        check_id: check_id.map(str::to_string),
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn dotted(parent: &str, field: &str) -> String {
    let parent = parent.trim_start_matches('/').replace('/', ".");
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

struct Checker<'e> {
    errors: &'e mut Vec<RecordError>,
}

impl Checker<'_> {
    fn invalid_value(&mut self, pointer: &str, detail: impl Into<String>) {
        self.errors
            .push(RecordError::new("invalid_value", pointer, detail));
    }

    /// The member, or a `missing_field` error.
    fn member<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        at: &str,
        field: &str,
    ) -> Option<&'v Value> {
        let value = parent.get(field);
        if value.is_none() {
            self.errors.push(RecordError::new(
                "missing_field",
                &format!("{at}/{field}"),
                format!("{} is required", dotted(at, field)),
            ));
        }
        value
    }

    fn wrong_type(&mut self, at: &str, field: &str, expected: &str, found: &Value) {
        self.errors.push(RecordError::new(
            "invalid_type",
            &format!("{at}/{field}"),
            format!(
                "{} must be {expected}, found {}",
                dotted(at, field),
                type_name(found)
            ),
        ));
    }

    fn unsigned(&mut self, parent: &Map<String, Value>, at: &str, field: &str) -> Option<u64> {
        let value = self.member(parent, at, field)?;
        match value {
            Value::Number(n) if n.is_u64() => n.as_u64(),
            Value::Number(n) if n.is_i64() => {
                self.invalid_value(
                    &format!("{at}/{field}"),
                    format!("{} must not be negative", dotted(at, field)),
                );
                None
            }
            other => {
                self.wrong_type(at, field, "an integer", other);
                None
            }
        }
    }

    fn integer(&mut self, parent: &Map<String, Value>, at: &str, field: &str) -> Option<i64> {
        let value = self.member(parent, at, field)?;
        match value.as_i64() {
            Some(n) => Some(n),
            None => {
                self.wrong_type(at, field, "an integer", value);
                None
            }
        }
    }

    fn string<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        at: &str,
        field: &str,
    ) -> Option<&'v str> {
        let value = self.member(parent, at, field)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.wrong_type(at, field, "a string", value);
                None
            }
        }
    }

    fn object<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        at: &str,
        field: &str,
    ) -> Option<&'v Map<String, Value>> {
        let value = self.member(parent, at, field)?;
        match value.as_object() {
            Some(o) => Some(o),
            None => {
                self.wrong_type(at, field, "an object", value);
                None
            }
        }
    }

    fn severity(&mut self, record: &Map<String, Value>) -> Option<&'static str> {
        let id = self.unsigned(record, "", "severity_id")?;
        let Some(&(_, name)) = SEVERITIES.iter().find(|(n, _)| *n == id) else {
            self.invalid_value("/severity_id", "severity_id must be one of 0-6 or 99");
            return None;
        };
        if let Some(given) = record.get("severity") {
            match given.as_str() {
                None => self.wrong_type("", "severity", "a string", given),
                Some(s) if !s.eq_ignore_ascii_case(name) => self.invalid_value(
                    "/severity",
                    format!("severity {s:?} does not match severity_id {id} ({name})"),
                ),
                Some(_) => {}
            }
        }
        Some(name)
    }

    fn resources(&mut self, record: &Map<String, Value>) {
        let Some(resources) = record.get("resources") else {
            return;
        };
        let Some(items) = resources.as_array() else {
            self.wrong_type("", "resources", "an array", resources);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("/resources/{i}");
            let Some(resource) = item.as_object() else {
                self.errors.push(RecordError::new(
                    "invalid_type",
                    &at,
                    format!(
                        "resources[{i}] must be an object, found {}",
                        type_name(item)
                    ),
                ));
                continue;
            };
            match resource.get("uid") {
                None => self.errors.push(RecordError::new(
                    "missing_field",
                    &format!("{at}/uid"),
                    format!("resources[{i}].uid is required"),
                )),
                Some(Value::String(s)) if s.is_empty() => self.invalid_value(
                    &format!("{at}/uid"),
                    format!("resources[{i}].uid must not be empty"),
                ),
                Some(Value::String(_)) => {}
                Some(other) => self.errors.push(RecordError::new(
                    "invalid_type",
                    &format!("{at}/uid"),
                    format!(
                        "resources[{i}].uid must be a string, found {}",
                        type_name(other)
                    ),
                )),
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A record that breaks no rule.
    pub(in crate::ocsf) fn valid() -> Value {
        json!({
            "class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401,
            "severity_id": 4, "severity": "High", "time": 1739800000,
            "status_id": 1, "status_code": "FAIL", "status": "New",
            "metadata": {"product": {"name": "Prowler"}, "version": "1.4.0", "event_code": "s3_bucket_public"},
            "finding_info": {"uid": "f-1", "title": "Bucket is public"},
            "resources": [{"uid": "arn:aws:s3:::b"}],
            "cloud": {"provider": "aws", "region": "us-east-1", "account": {"uid": "123456789012"}},
            "unmapped": {"anything": true}
        })
    }

    fn errors_of(v: &Value) -> Vec<(&'static str, String)> {
        validate_record(v.to_string().len(), v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.code, e.pointer))
            .collect()
    }

    #[test]
    fn a_valid_record_yields_its_index_fields() {
        let v = valid();
        let rec = validate_record(100, &v).unwrap();
        assert_eq!(rec.uid, "f-1");
        assert_eq!(rec.severity, "High");
        assert_eq!(rec.status_code.as_deref(), Some("FAIL"));
        assert_eq!(rec.provider.as_deref(), Some("aws"));
        assert_eq!(rec.account_uid.as_deref(), Some("123456789012"));
        assert_eq!(rec.region.as_deref(), Some("us-east-1"));
        assert_eq!(rec.check_id.as_deref(), Some("s3_bucket_public"));
    }

    type Mutation = Box<dyn Fn(&mut Value)>;

    /// One broken rule each: how to break it, and the error it gives.
    fn rule_cases() -> Vec<(Mutation, &'static str, &'static str)> {
        vec![
            (
                Box::new(|v| v["class_uid"] = json!(2003)),
                "unsupported_class",
                "/class_uid",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("class_uid");
                }),
                "missing_field",
                "/class_uid",
            ),
            (
                Box::new(|v| v["category_uid"] = json!(3)),
                "invalid_value",
                "/category_uid",
            ),
            (
                Box::new(|v| v["activity_id"] = json!(7)),
                "invalid_value",
                "/activity_id",
            ),
            (
                Box::new(|v| v["type_uid"] = json!(200402)),
                "invalid_value",
                "/type_uid",
            ),
            (
                Box::new(|v| v["severity_id"] = json!(7)),
                "invalid_value",
                "/severity_id",
            ),
            (
                Box::new(|v| v["severity"] = json!("low")),
                "invalid_value",
                "/severity",
            ),
            (
                Box::new(|v| v["time"] = json!("yesterday")),
                "invalid_type",
                "/time",
            ),
            (
                Box::new(|v| v["time"] = json!(-5)),
                "invalid_value",
                "/time",
            ),
            (
                Box::new(|v| v["metadata"] = json!([])),
                "invalid_type",
                "/metadata",
            ),
            (
                Box::new(|v| {
                    v["metadata"].as_object_mut().unwrap().remove("product");
                }),
                "missing_field",
                "/metadata/product",
            ),
            (
                Box::new(|v| v["metadata"]["version"] = json!(1)),
                "invalid_type",
                "/metadata/version",
            ),
            (
                Box::new(|v| {
                    v["finding_info"].as_object_mut().unwrap().remove("uid");
                }),
                "missing_field",
                "/finding_info/uid",
            ),
            (
                Box::new(|v| v["finding_info"]["uid"] = json!("")),
                "invalid_value",
                "/finding_info/uid",
            ),
            (
                Box::new(|v| v["finding_info"]["uid"] = json!("x".repeat(1025))),
                "invalid_value",
                "/finding_info/uid",
            ),
            (
                Box::new(|v| v["finding_info"]["title"] = json!(null)),
                "invalid_type",
                "/finding_info/title",
            ),
            (
                Box::new(|v| v["resources"] = json!({})),
                "invalid_type",
                "/resources",
            ),
            (
                Box::new(|v| v["resources"] = json!([{"uid": ""}])),
                "invalid_value",
                "/resources/0/uid",
            ),
            (
                Box::new(|v| v["resources"] = json!([{"uid": "a"}, {"name": "b"}])),
                "missing_field",
                "/resources/1/uid",
            ),
            (
                Box::new(|v| v["cloud"] = json!({"region": "x"})),
                "missing_field",
                "/cloud/provider",
            ),
            (
                Box::new(|v| v["status_id"] = json!("1")),
                "invalid_type",
                "/status_id",
            ),
            (
                Box::new(|v| v["status_code"] = json!(1)),
                "invalid_type",
                "/status_code",
            ),
            (
                Box::new(|v| v["status"] = json!(false)),
                "invalid_type",
                "/status",
            ),
        ]
    }

    #[test]
    fn each_rule_reports_its_code_and_pointer() {
        for (mutate, code, pointer) in rule_cases() {
            let mut v = valid();
            mutate(&mut v);
            assert_eq!(
                errors_of(&v),
                vec![(code, pointer.to_string())],
                "{code} {pointer}"
            );
        }
    }

    #[test]
    fn shape_and_size_are_checked_first() {
        assert_eq!(
            errors_of(&json!([1])),
            vec![("not_an_object", String::new())]
        );
        let err = validate_record(MAX_RECORD_BYTES + 1, &valid()).unwrap_err();
        assert_eq!(err[0].code, "record_too_large");
    }

    #[test]
    fn severity_name_is_case_insensitive_and_optional() {
        let mut v = valid();
        v["severity"] = json!("hIGH");
        assert!(validate_record(10, &v).is_ok());
        v.as_object_mut().unwrap().remove("severity");
        assert_eq!(validate_record(10, &v).unwrap().severity, "High");
    }

    #[test]
    fn missing_fields_are_named_in_dotted_form() {
        let mut v = valid();
        v["finding_info"].as_object_mut().unwrap().remove("uid");
        let err = validate_record(10, &v).unwrap_err();
        assert_eq!(err[0].detail, "finding_info.uid is required");
    }

    #[test]
    fn the_fast_path_declines_every_case_the_rules_refuse() {
        use crate::ocsf::fast::tests::assert_same;
        let accepted = assert_same(valid().to_string().as_bytes());
        assert_eq!(accepted, Some(validate_record(10, &valid()).unwrap()));
        for (mutate, code, pointer) in rule_cases() {
            let mut v = valid();
            mutate(&mut v);
            assert!(validate_record(10, &v).is_err(), "{code} {pointer}");
            assert_eq!(
                assert_same(v.to_string().as_bytes()),
                None,
                "{code} {pointer}"
            );
        }
        // The shape and size cases.
        assert_eq!(assert_same(b"[1]"), None);
        assert_eq!(assert_same(br#"{"finding_info": {"uid": "u-1"}}"#), None);
        let text = valid().to_string();
        let pad = "x".repeat(MAX_RECORD_BYTES + 1 - text.len());
        let oversized = text.replacen('{', &format!("{{\"pad\":\"{}\",", &pad[9..]), 1);
        assert_eq!(oversized.len(), MAX_RECORD_BYTES + 1);
        assert_eq!(
            validate_record(oversized.len(), &serde_json::from_str(&oversized).unwrap())
                .unwrap_err()[0]
                .code,
            "record_too_large"
        );
        assert_eq!(assert_same(oversized.as_bytes()), None);
    }
}
