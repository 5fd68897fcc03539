//! The quick answer for the common case: a record that breaks no rule.
//!
//! [`validate_fast`] reads only the members the rules look at, straight from the record's
//! bytes and borrowing its strings, instead of building a whole `serde_json::Value`. It
//! answers `Some` only for a record that [`validate_record`] accepts, with the same
//! [`ValidRecord`]. Anything else is `None`: a broken rule, a duplicated member, or JSON
//! that the full parse might refuse. The caller then takes the full path, which reports
//! the errors, so `None` never changes a result; only a wrong `Some` could.
//!
//! Two things keep the JSON accepted here no wider than what `Value` accepts:
//! - Members that no rule reads are parsed and dropped by [`Skip`], which goes through
//!   `deserialize_any` like `Value` does. serde_json skips `IgnoredAny` without checking
//!   `\u` escapes for lone surrogates, UTF-8, numbers out of range or nesting depth, so
//!   `IgnoredAny` (and with it `#[derive(Deserialize)]` structs, which skip unknown members
//!   that way) could accept records that the full path refuses.
//! - Objects are read with hand-written map visitors: derived structs would also take a
//!   JSON array of the members' values in order.
//!
//! Nesting depth is counted exactly as for `Value` (one level per object or array).
//! `Value` reads an object whose first key is serde_json's raw-value token as the JSON
//! held in its value; such a key anywhere makes the fast path decline.
//!
//! [`validate_record`]: super::validate_record

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::validate::{
    ValidRecord, ACTIVITY_IDS, DETECTION_FINDING, FINDINGS_CATEGORY, MAX_RECORD_BYTES,
    MAX_UID_CHARS, SEVERITIES,
};

/// The key with which serde_json marks a raw value inside a map.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The record's [`ValidRecord`] if it breaks no rule, else `None` (take the full path).
pub fn validate_fast(bytes: &[u8]) -> Option<ValidRecord> {
    if bytes.len() > MAX_RECORD_BYTES {
        return None;
    }
    serde_json::from_slice::<FastRecord>(bytes)
        .ok()?
        .into_valid(bytes.len())
}

/// [`validate_fast`] for the record at the start of `bytes`, which may go on past it (the
/// rest of a file): the record's length and its [`ValidRecord`]. This lets a file be split
/// and checked in one pass. `None` when the record breaks a rule, is not all in `bytes`,
/// or is not an object; the caller then finds the record's end by other means and takes
/// the full path.
///
/// It takes text, not bytes: serde_json then reads strings without checking each one for
/// UTF-8 again (the caller checks a whole buffer at once).
pub fn validate_fast_prefix(text: &str) -> Option<(usize, ValidRecord)> {
    if !text.starts_with('{') {
        return None;
    }
    // A record within the limit is whole within its first MAX_RECORD_BYTES bytes.
    let mut end = text.len().min(MAX_RECORD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let window = &text[..end];
    let mut stream = serde_json::Deserializer::from_str(window).into_iter::<FastRecord>();
    let record = stream.next()?.ok()?;
    let len = stream.byte_offset();
    record.into_valid(len).map(|valid| (len, valid))
}

/// The members of a record that the rules read. Deserializing fails on a member of the
/// wrong type, a duplicated member, a missing member of a nested object, or a broken
/// `resources` entry; the remaining rules are applied by [`FastRecord::into_valid`].
#[derive(Debug, Default)]
pub struct FastRecord<'a> {
    class_uid: Option<u64>,
    category_uid: Option<u64>,
    activity_id: Option<u64>,
    type_uid: Option<u64>,
    severity_id: Option<u64>,
    severity: Option<Text<'a>>,
    time: Option<u64>,
    metadata: Option<Metadata<'a>>,
    finding_info: Option<FindingInfo<'a>>,
    resources: Option<Resources>,
    cloud: Option<Cloud<'a>>,
    status_id: Option<i64>,
    status_code: Option<Text<'a>>,
    status: Option<Text<'a>>,
}

impl FastRecord<'_> {
    /// The index fields, if the record (of `size` bytes) breaks no rule.
    pub fn into_valid(self, size: usize) -> Option<ValidRecord> {
        if size > MAX_RECORD_BYTES {
            return None;
        }
        if self.class_uid? != DETECTION_FINDING || self.category_uid? != FINDINGS_CATEGORY {
            return None;
        }
        let activity = self.activity_id?;
        if !ACTIVITY_IDS.contains(&activity) || self.type_uid? != 200_400 + activity {
            return None;
        }
        let id = self.severity_id?;
        let &(_, severity) = SEVERITIES.iter().find(|(n, _)| *n == id)?;
        if let Some(given) = &self.severity {
            if !given.0.eq_ignore_ascii_case(severity) {
                return None;
            }
        }
        self.time?;
        let metadata = self.metadata?;
        let uid = self.finding_info?.uid.0;
        if uid.is_empty() || uid.chars().count() > MAX_UID_CHARS {
            return None;
        }
        // `resources`, `status_id` and `status` were checked as they were read.
        let (provider, region, account_uid) = match self.cloud {
            Some(cloud) => (Some(cloud.provider.0), cloud.region, cloud.account_uid),
            None => (None, None, None),
        };
        Some(ValidRecord {
            uid: uid.into_owned(),
            severity,
            status_code: self.status_code.map(|s| s.0.into_owned()),
            provider: provider.map(Cow::into_owned),
            account_uid: account_uid.map(Cow::into_owned),
            region: region.map(Cow::into_owned),
            check_id: metadata.event_code.map(Cow::into_owned),
        })
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RecordKey {
    ClassUid,
    CategoryUid,
    ActivityId,
    TypeUid,
    SeverityId,
    Severity,
    Time,
    Metadata,
    FindingInfo,
    Resources,
    Cloud,
    StatusId,
    StatusCode,
    Status,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for FastRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = FastRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OCSF record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = FastRecord::default();
        while let Some(key) = map.next_key::<RecordKey>()? {
            match key {
                RecordKey::ClassUid => once(&mut r.class_uid, &mut map, "class_uid")?,
                RecordKey::CategoryUid => once(&mut r.category_uid, &mut map, "category_uid")?,
                RecordKey::ActivityId => once(&mut r.activity_id, &mut map, "activity_id")?,
                RecordKey::TypeUid => once(&mut r.type_uid, &mut map, "type_uid")?,
                RecordKey::SeverityId => once(&mut r.severity_id, &mut map, "severity_id")?,
                RecordKey::Severity => once(&mut r.severity, &mut map, "severity")?,
                RecordKey::Time => once(&mut r.time, &mut map, "time")?,
                RecordKey::Metadata => once(&mut r.metadata, &mut map, "metadata")?,
                RecordKey::FindingInfo => once(&mut r.finding_info, &mut map, "finding_info")?,
                RecordKey::Resources => once(&mut r.resources, &mut map, "resources")?,
                RecordKey::Cloud => once(&mut r.cloud, &mut map, "cloud")?,
                RecordKey::StatusId => once(&mut r.status_id, &mut map, "status_id")?,
                RecordKey::StatusCode => once(&mut r.status_code, &mut map, "status_code")?,
                RecordKey::Status => once(&mut r.status, &mut map, "status")?,
                RecordKey::RawValue => return Err(raw_value_key()),
                RecordKey::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(r)
    }
}

/// Reads the next value into `slot`, which must still be empty: `Value` would keep the
/// last of duplicated members, and the full path sorts that out.
fn once<'de, T, A>(slot: &mut Option<T>, map: &mut A, name: &'static str) -> Result<(), A::Error>
where
    T: de::Deserialize<'de>,
    A: MapAccess<'de>,
{
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn raw_value_key<E: de::Error>() -> E {
    E::custom("an object keyed by serde_json's raw-value token")
}

/// `metadata`: `product` must be an object, `version` a string; `event_code` is read if it
/// is a string.
#[derive(Debug)]
struct Metadata<'a> {
    event_code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum MetadataKey {
    Product,
    Version,
    EventCode,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Metadata<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = Metadata<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut product: Option<AnyObject> = None;
                let mut version: Option<Text> = None;
                let mut event_code: Option<Lenient> = None;
                while let Some(key) = map.next_key::<MetadataKey>()? {
                    match key {
                        MetadataKey::Product => once(&mut product, &mut map, "product")?,
                        MetadataKey::Version => once(&mut version, &mut map, "version")?,
                        MetadataKey::EventCode => once(&mut event_code, &mut map, "event_code")?,
                        MetadataKey::RawValue => return Err(raw_value_key()),
                        MetadataKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                product.ok_or_else(|| de::Error::missing_field("product"))?;
                version.ok_or_else(|| de::Error::missing_field("version"))?;
                Ok(Metadata {
                    event_code: event_code.and_then(|e| e.0),
                })
            }
        }
        deserializer.deserialize_map(MetadataVisitor)
    }
}

/// `finding_info`: `uid` and `title` must be strings.
#[derive(Debug)]
struct FindingInfo<'a> {
    uid: Text<'a>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum FindingInfoKey {
    Uid,
    Title,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for FindingInfo<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FindingInfoVisitor;
        impl<'de> Visitor<'de> for FindingInfoVisitor {
            type Value = FindingInfo<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut uid: Option<Text> = None;
                let mut title: Option<Text> = None;
                while let Some(key) = map.next_key::<FindingInfoKey>()? {
                    match key {
                        FindingInfoKey::Uid => once(&mut uid, &mut map, "uid")?,
                        FindingInfoKey::Title => once(&mut title, &mut map, "title")?,
                        FindingInfoKey::RawValue => return Err(raw_value_key()),
                        FindingInfoKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                title.ok_or_else(|| de::Error::missing_field("title"))?;
                Ok(FindingInfo {
                    uid: uid.ok_or_else(|| de::Error::missing_field("uid"))?,
                })
            }
        }
        deserializer.deserialize_map(FindingInfoVisitor)
    }
}

/// `resources`: an array of objects, each with a non-empty string `uid`.
#[derive(Debug)]
struct Resources;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ResourceKey {
    Uid,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de> de::Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResourcesVisitor;
        impl<'de> Visitor<'de> for ResourcesVisitor {
            type Value = Resources;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of resources")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Resource>()?.is_some() {}
                Ok(Resources)
            }
        }
        deserializer.deserialize_seq(ResourcesVisitor)
    }
}

struct Resource;

impl<'de> de::Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResourceVisitor;
        impl<'de> Visitor<'de> for ResourceVisitor {
            type Value = Resource;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a resource object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut uid: Option<Text> = None;
                while let Some(key) = map.next_key::<ResourceKey>()? {
                    match key {
                        ResourceKey::Uid => once(&mut uid, &mut map, "uid")?,
                        ResourceKey::RawValue => return Err(raw_value_key()),
                        ResourceKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                match uid {
                    None => Err(de::Error::missing_field("uid")),
                    Some(uid) if uid.0.is_empty() => {
                        Err(de::Error::custom("an empty resource uid"))
                    }
                    Some(_) => Ok(Resource),
                }
            }
        }
        deserializer.deserialize_map(ResourceVisitor)
    }
}

/// `cloud`: `provider` must be a string; `region` and `account.uid` are read if they are
/// strings.
#[derive(Debug)]
struct Cloud<'a> {
    provider: Text<'a>,
    region: Option<Cow<'a, str>>,
    account_uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum CloudKey {
    Provider,
    Region,
    Account,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Cloud<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CloudVisitor;
        impl<'de> Visitor<'de> for CloudVisitor {
            type Value = Cloud<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut provider: Option<Text> = None;
                let mut region: Option<Lenient> = None;
                let mut account: Option<Account> = None;
                while let Some(key) = map.next_key::<CloudKey>()? {
                    match key {
                        CloudKey::Provider => once(&mut provider, &mut map, "provider")?,
                        CloudKey::Region => once(&mut region, &mut map, "region")?,
                        CloudKey::Account => once(&mut account, &mut map, "account")?,
                        CloudKey::RawValue => return Err(raw_value_key()),
                        CloudKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Cloud {
                    provider: provider.ok_or_else(|| de::Error::missing_field("provider"))?,
                    region: region.and_then(|r| r.0),
                    account_uid: account.and_then(|a| a.uid),
                })
            }
        }
        deserializer.deserialize_map(CloudVisitor)
    }
}

/// `cloud.account`: any value; its `uid` is read if it is an object whose `uid` is a string.
struct Account<'a> {
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum AccountKey {
    Uid,
    #[serde(rename = "$serde_json::private::RawValue")]
    RawValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Account<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AccountVisitor;
        impl<'de> Visitor<'de> for AccountVisitor {
            type Value = Account<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut uid: Option<Lenient> = None;
                while let Some(key) = map.next_key::<AccountKey>()? {
                    match key {
                        AccountKey::Uid => once(&mut uid, &mut map, "uid")?,
                        AccountKey::RawValue => return Err(raw_value_key()),
                        AccountKey::Other => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Account {
                    uid: uid.and_then(|u| u.0),
                })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                SkipVisitor.visit_seq(seq)?;
                Ok(Account { uid: None })
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Account { uid: None })
            }
        }
        deserializer.deserialize_any(AccountVisitor)
    }
}

/// A JSON string, borrowed from the input unless it had escapes. Anything else, `null`
/// included, is an error.
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Any JSON value: the string if it is one, else `None` (as `Value::as_str`).
struct Lenient<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LenientVisitor;
        impl<'de> Visitor<'de> for LenientVisitor {
            type Value = Lenient<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Borrowed(v))))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v.to_owned()))))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v))))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                SkipVisitor.visit_seq(seq)?;
                Ok(Lenient(None))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                SkipVisitor.visit_map(map)?;
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(LenientVisitor)
    }
}

/// Any JSON object, checked as `Value` would parse it and dropped.
struct AnyObject;

impl<'de> de::Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SkipVisitor)?;
        Ok(AnyObject)
    }
}

/// Any JSON value, parsed as `Value` would parse it (escapes, UTF-8, number range, depth)
/// and dropped.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key_seed(SkipKey)?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// A map key, parsed and dropped unless it is the raw-value token.
struct SkipKey;

impl<'de> DeserializeSeed<'de> for SkipKey {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for SkipKey {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v == RAW_VALUE_TOKEN {
            return Err(raw_value_key());
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ocsf::validate::tests::valid as base;
    use crate::ocsf::{validate_record, RecordError};
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use serde_json::{json, Value};

    /// What the processor's full path makes of `bytes`; `None` where it refuses the JSON
    /// itself (malformed, or nested too deeply).
    fn full(bytes: &[u8]) -> Option<Result<ValidRecord, Vec<RecordError>>> {
        let value = serde_json::from_slice::<Value>(bytes).ok()?;
        Some(validate_record(bytes.len(), &value))
    }

    fn shown(bytes: &[u8]) -> String {
        String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned()
    }

    /// Both paths accept exactly the same records, with the same fields.
    pub(in crate::ocsf) fn assert_same(bytes: &[u8]) -> Option<ValidRecord> {
        let fast = validate_fast(bytes);
        let full = full(bytes).and_then(Result::ok);
        assert_eq!(fast, full, "fast and full paths differ on {}", shown(bytes));
        assert_prefix_agrees(bytes);
        fast
    }

    /// The longest UTF-8 prefix of `bytes`, as the scanner hands it to the quick check.
    fn text_of(bytes: &[u8]) -> &str {
        match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap(),
        }
    }

    /// [`validate_fast_prefix`] on `bytes` followed by more of a file: whatever record it
    /// claims is one the full path accepts, and it reads a record that `validate_fast`
    /// accepts (as the scanner cuts records: from `{` to `}`) to its end.
    fn assert_prefix_agrees(bytes: &[u8]) {
        let mut file = bytes.to_vec();
        file.extend_from_slice(b" ,{\"next\": [1]} ]");
        match validate_fast_prefix(text_of(&file)) {
            Some((len, valid)) => {
                let claimed = &bytes[..len];
                assert_eq!(
                    full(claimed).and_then(Result::ok),
                    Some(valid),
                    "false accept by the prefix check of {}",
                    shown(claimed)
                );
            }
            None => {
                let whole = bytes.first() == Some(&b'{') && bytes.last() == Some(&b'}');
                assert!(
                    !(whole && validate_fast(bytes).is_some()),
                    "the prefix check declines {}",
                    shown(bytes)
                );
            }
        }
    }

    /// The fast path accepts nothing that the full path refuses (it may decline, leaving
    /// the record to the full path). Returns whether the full path accepts it.
    fn assert_no_false_accept(bytes: &[u8]) -> bool {
        let full = full(bytes).and_then(Result::ok);
        if let Some(fast) = validate_fast(bytes) {
            assert_eq!(Some(fast), full, "false accept of {}", shown(bytes));
        }
        assert_prefix_agrees(bytes);
        full.is_some()
    }

    /// The base record with the member at `pointer` set to the raw JSON text `raw`.
    fn with(pointer: &str, raw: &str) -> Vec<u8> {
        let mut v = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(key.to_string(), json!("@@RAW@@"));
        v.to_string().replace("\"@@RAW@@\"", raw).into_bytes()
    }

    fn without(pointer: &str) -> Vec<u8> {
        let mut v = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .remove(key)
            .unwrap();
        v.to_string().into_bytes()
    }

    /// The full path's verdict, for checking that a case tests what it means to.
    fn full_accepts(bytes: &[u8]) -> bool {
        matches!(full(bytes), Some(Ok(_)))
    }

    #[test]
    fn the_base_record_is_accepted_by_both_paths() {
        let rec = assert_same(&with("/unmapped", "{}")).unwrap();
        assert_eq!(rec.uid, "f-1");
        assert_eq!(rec.check_id.as_deref(), Some("s3_bucket_public"));
        assert_eq!(rec.account_uid.as_deref(), Some("123456789012"));
    }

    #[test]
    fn a_record_is_read_to_its_end_when_the_file_goes_on() {
        let record = base().to_string();
        let expected = validate_fast(record.as_bytes()).unwrap();
        let file = format!("{record},\n  {{\"class_uid\": 2004}}\n]");
        assert_eq!(validate_fast_prefix(&file), Some((record.len(), expected)));
        // Cut short, not an object, not at its first byte, or over the limit: declined.
        assert_eq!(validate_fast_prefix(&record[..record.len() - 1]), None);
        assert_eq!(validate_fast_prefix("[1, 2]"), None);
        assert_eq!(validate_fast_prefix(&format!(" {record}")), None);
        let padding = "é".repeat(MAX_RECORD_BYTES / 2);
        let large = with("/unmapped", &format!("{{\"pad\": \"{padding}\"}}"));
        let large = String::from_utf8(large).unwrap();
        assert_eq!(validate_fast_prefix(&format!("{large}]")), None);
    }

    #[test]
    fn null_is_a_wrong_type_for_members_that_are_optional_if_present() {
        for p in [
            "/status_code",
            "/status",
            "/status_id",
            "/resources",
            "/cloud",
            "/severity",
        ] {
            let bytes = with(p, "null");
            assert!(!full_accepts(&bytes), "{p}");
            assert_eq!(assert_same(&bytes), None, "{p}");
            // ...while leaving it out is fine.
            assert!(assert_same(&without(p)).is_some(), "{p}");
        }
        for p in [
            "/class_uid",
            "/category_uid",
            "/activity_id",
            "/type_uid",
            "/severity_id",
            "/time",
            "/metadata",
            "/metadata/product",
            "/metadata/version",
            "/finding_info",
            "/finding_info/uid",
            "/finding_info/title",
            "/cloud/provider",
            "/resources/0/uid",
        ] {
            assert_eq!(assert_same(&with(p, "null")), None, "{p}");
            assert_eq!(assert_same(&without(p)), None, "{p}");
        }
    }

    #[test]
    fn numbers_are_read_as_the_full_path_reads_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("/class_uid", "2004.0", false),
            ("/class_uid", "2.004e3", false),
            ("/class_uid", "-2004", false),
            ("/class_uid", "\"2004\"", false),
            ("/category_uid", "2.0", false),
            ("/activity_id", "1.0", false),
            ("/activity_id", "-1", false),
            ("/type_uid", "200401.0", false),
            ("/severity_id", "4e0", false),
            ("/time", "1e3", false),
            ("/time", "1E3", false),
            ("/time", "1.5", false),
            ("/time", "-1", false),
            ("/time", "-0", false),
            ("/time", "0", true),
            ("/time", "18446744073709551615", true),
            ("/time", "18446744073709551616", false),
            ("/time", "1e400", false),
            ("/time", "true", false),
            ("/time", "[1]", false),
            ("/status_id", "-1", true),
            ("/status_id", "0", true),
            ("/status_id", "1.0", false),
            ("/status_id", "1e3", false),
            ("/status_id", "9223372036854775807", true),
            ("/status_id", "9223372036854775808", false),
            ("/status_id", "-9223372036854775808", true),
            ("/status_id", "-9223372036854775809", false),
            ("/status_id", "\"1\"", false),
        ];
        for (pointer, raw, valid) in cases {
            let bytes = with(pointer, raw);
            assert_eq!(full_accepts(&bytes), *valid, "{pointer} = {raw}");
            assert_eq!(assert_same(&bytes).is_some(), *valid, "{pointer} = {raw}");
        }
    }

    #[test]
    fn activity_and_type_uid_go_together() {
        for (activity, type_uid, valid) in [
            (0, 200400, true),
            (3, 200403, true),
            (99, 200499, true),
            (99, 200400, false),
            (4, 200404, false),
            (1, 200400, false),
        ] {
            let mut v = base();
            v["activity_id"] = json!(activity);
            v["type_uid"] = json!(type_uid);
            let bytes = v.to_string().into_bytes();
            assert_eq!(
                assert_same(&bytes).is_some(),
                valid,
                "{activity} {type_uid}"
            );
        }
    }

    #[test]
    fn severity_names_match_their_id_ignoring_ascii_case() {
        let cases: &[(u64, &str, bool)] = &[
            (4, "\"hIGH\"", true),
            (4, "\"High \"", false),
            (4, "\"H\\u0049GH\"", true),
            (4, "\"H\u{130}GH\"", false),
            (4, "\"Low\"", false),
            (4, "4", false),
            (99, "\"other\"", true),
            (6, "\"FATAL\"", true),
            (0, "\"unknown\"", true),
            (7, "\"Other\"", false),
            (100, "\"Other\"", false),
        ];
        for (id, name, valid) in cases {
            let mut bytes = String::from_utf8(with("/severity", name)).unwrap();
            bytes = bytes.replace("\"severity_id\":4", &format!("\"severity_id\":{id}"));
            let rec = assert_same(bytes.as_bytes());
            assert_eq!(rec.is_some(), *valid, "{id} {name}");
        }
        let mut v = base();
        v.as_object_mut().unwrap().remove("severity");
        v["severity_id"] = json!(99);
        assert_eq!(
            assert_same(v.to_string().as_bytes()).unwrap().severity,
            "Other"
        );
    }

    #[test]
    fn strings_are_unescaped_alike() {
        let rec = assert_same(&with(
            "/finding_info/uid",
            r#""f\u002d1\"\\\n\ud83d\ude00""#,
        ));
        assert_eq!(rec.unwrap().uid, "f-1\"\\\n\u{1F600}");
        let rec = assert_same(&with("/finding_info/uid", r#""\u0000""#)).unwrap();
        assert_eq!(rec.uid, "\0");
        let rec = assert_same(&with("/cloud/region", r#""eu-\u0077est-1""#)).unwrap();
        assert_eq!(rec.region.as_deref(), Some("eu-west-1"));
        // Escaped keys name the same members.
        let text = String::from_utf8(with("/unmapped", "{}")).unwrap();
        let escaped = text.replace("\"class_uid\"", r#""class\u005fuid""#);
        assert_ne!(escaped, text);
        assert!(assert_same(escaped.as_bytes()).is_some());
        let renamed = text.replace("\"class_uid\"", r#""Class_uid""#);
        assert_eq!(assert_same(renamed.as_bytes()), None);
        // JSON the full path refuses, wherever it is.
        for (pointer, raw) in [
            ("/finding_info/uid", r#""\ud800""#),
            ("/unmapped", r#""\ud800""#),
            ("/unmapped", r#""\udc00\ud800""#),
            ("/unmapped", r#"{"\ud800": 1}"#),
            ("/unmapped", r#"["a", {"b": ["\ud83d"]}]"#),
            ("/metadata/product", r#"{"name": "\ud800"}"#),
            ("/cloud/region", r#""\ud800""#),
            ("/cloud/account", r#"{"type": "\ud800"}"#),
            ("/unmapped", r#""\x""#),
            ("/unmapped", "\"tab\there\""),
            ("/unmapped", "\"nul\u{0}\""),
        ] {
            let bytes = with(pointer, raw);
            assert!(full(&bytes).is_none(), "{pointer} = {raw}");
            assert_eq!(assert_same(&bytes), None, "{pointer} = {raw}");
        }
        // Bytes that are not UTF-8, in a string no rule reads.
        let mut bytes = with("/unmapped", "\"@\"");
        let at = bytes.iter().position(|b| *b == b'@').unwrap();
        for bad in [&[0xff_u8][..], &[0xc3], &[0xed, 0xa0, 0x80], &[0xc0, 0xaf]] {
            bytes.splice(at..at + 1, bad.iter().copied());
            assert!(full(&bytes).is_none());
            assert_eq!(assert_same(&bytes), None);
            bytes = with("/unmapped", "\"@\"");
        }
    }

    #[test]
    fn leniently_read_members_take_any_value() {
        let others = [
            "null",
            "5",
            "-5",
            "1.5",
            "true",
            "[]",
            "[\"us-east-1\"]",
            "{}",
            r#"{"a": [1, {"b": [null, {"uid": "x"}]}], "id": "x"}"#,
        ];
        for raw in others {
            let rec = assert_same(&with("/cloud/region", raw)).unwrap();
            assert_eq!(rec.region, None, "{raw}");
            let rec = assert_same(&with("/metadata/event_code", raw)).unwrap();
            assert_eq!(rec.check_id, None, "{raw}");
            let rec = assert_same(&with("/cloud/account/uid", raw)).unwrap();
            assert_eq!(rec.account_uid, None, "{raw}");
            let rec = assert_same(&with("/cloud/account", raw)).unwrap();
            assert_eq!(rec.account_uid, None, "{raw}");
        }
        let rec = assert_same(&with("/cloud/account", r#"{"name": "n", "uid": "7"}"#)).unwrap();
        assert_eq!(rec.account_uid.as_deref(), Some("7"));
        let rec = assert_same(&with("/cloud/account", r#""123456789012""#)).unwrap();
        assert_eq!(rec.account_uid, None);
        let rec = assert_same(&without("/cloud/region")).unwrap();
        assert_eq!((rec.region, rec.provider.as_deref()), (None, Some("aws")));
        let rec = assert_same(&without("/cloud")).unwrap();
        assert_eq!((rec.account_uid, rec.provider), (None, None));
        let rec = assert_same(&without("/status_code")).unwrap();
        assert_eq!(rec.status_code, None);
    }

    #[test]
    fn objects_must_be_objects() {
        for (pointer, raw) in [
            ("/metadata", "[{}, \"1.4.0\"]"),
            ("/metadata/product", "[]"),
            ("/metadata/product", "\"Prowler\""),
            ("/metadata/product", "[{\"name\": \"Prowler\"}]"),
            ("/finding_info", "[\"f-1\", \"Bucket is public\"]"),
            ("/finding_info", "\"f-1\""),
            ("/cloud", "[\"aws\", \"us-east-1\"]"),
            ("/cloud", "\"aws\""),
            ("/resources", "{\"uid\": \"a\"}"),
            ("/resources", "[[\"a\"]]"),
            ("/resources", "\"a\""),
        ] {
            assert_eq!(assert_same(&with(pointer, raw)), None, "{pointer} = {raw}");
        }
        for raw in ["{}", r#"{"x": [[{}]], "y": {"z": {}}}"#] {
            assert!(assert_same(&with("/metadata/product", raw)).is_some());
        }
        // A record given as its members' values in order, or as anything but an object.
        let record = base();
        let values: Vec<&Value> = record.as_object().unwrap().values().collect();
        assert_eq!(assert_same(json!(values).to_string().as_bytes()), None);
        for text in ["[]", "{}", "null", "42", "\"x\"", ""] {
            assert_eq!(assert_same(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn resources_need_a_nonempty_string_uid_each() {
        let cases: &[(&str, bool)] = &[
            ("[]", true),
            (r#"[{"uid": "a"}, {"uid": "b", "uid_x": 1}]"#, true),
            (r#"[{"uid": "a", "data": {"uid": 5, "x": [{}]}}]"#, true),
            (r#"[{"uid": "\u0061"}]"#, true),
            (r#"[{"uid": ""}]"#, false),
            (r#"[{"uid": "a"}, {"uid": null}]"#, false),
            (r#"[{"uid": 5}]"#, false),
            (r#"[{"name": "a"}]"#, false),
            (r#"[{"uid": "a"}, 1]"#, false),
            (r#"[{"uid": "a"}, null]"#, false),
            (r#"[{"uid": "a"}, []]"#, false),
        ];
        for (raw, valid) in cases {
            let bytes = with("/resources", raw);
            assert_eq!(assert_same(&bytes).is_some(), *valid, "{raw}");
        }
    }

    #[test]
    fn uid_length_is_counted_in_characters() {
        for (uid, valid) in [
            ("é".repeat(1024), true),
            ("é".repeat(1025), false),
            ("\u{1F600}".repeat(1024), true),
            ("\u{1F600}".repeat(1025), false),
            ("x".repeat(1024), true),
            ("x".repeat(1025), false),
            (String::new(), false),
            (" ".into(), true),
        ] {
            let bytes = with("/finding_info/uid", &json!(uid).to_string());
            assert_eq!(assert_same(&bytes).is_some(), valid, "{} chars", uid.len());
            // The same uid written with escapes only.
            let escaped: String = uid.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
            let bytes = with("/finding_info/uid", &format!("\"{escaped}\""));
            let rec = assert_same(&bytes);
            assert_eq!(rec.is_some(), valid, "{} chars, escaped", uid.len());
            if let Some(rec) = rec {
                assert_eq!(rec.uid, uid);
            }
        }
    }

    #[test]
    fn the_size_limit_is_the_same() {
        let text = String::from_utf8(with("/unmapped", "\"@\"")).unwrap();
        for (size, valid) in [(MAX_RECORD_BYTES, true), (MAX_RECORD_BYTES + 1, false)] {
            let pad = "p".repeat(size - text.len() + 1);
            let bytes = text.replace('@', &pad).into_bytes();
            assert_eq!(bytes.len(), size);
            assert_eq!(assert_same(&bytes).is_some(), valid, "{size}");
        }
        let record = serde_json::from_slice::<FastRecord>(text.as_bytes()).unwrap();
        assert!(record.into_valid(MAX_RECORD_BYTES + 1).is_none());
    }

    #[test]
    fn data_no_rule_reads_is_parsed_as_fully_as_value_parses_it() {
        // Nesting: the record is level 1, `unmapped` level 2; the limit counts every level.
        let mut accepted = 0;
        for depth in 120..135 {
            let raw = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let bytes = with("/unmapped", &raw);
            accepted += usize::from(assert_same(&bytes).is_some());
            let raw = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            assert_same(&with("/unmapped", &raw));
            assert_same(&with("/metadata/product", &raw));
            assert_same(&with("/cloud/account", &raw));
            assert_same(&with("/cloud/region", &raw));
            assert_same(&with(
                "/resources",
                &format!("[{{\"uid\":\"a\",\"x\":{raw}}}]"),
            ));
        }
        assert!(accepted > 0 && accepted < 15, "{accepted}");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(assert_same(&with("/unmapped", &deep)), None);
        // Numbers out of range, and malformed JSON.
        for raw in [
            "1e400",
            "-1e400",
            "[1, 2e999]",
            "{\"a\": 1e309}",
            "01",
            "1.",
            "-",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\": 1,}",
            "tru",
            "NaN",
        ] {
            let bytes = with("/unmapped", raw);
            assert!(full(&bytes).is_none(), "{raw}");
            assert_eq!(assert_same(&bytes), None, "{raw}");
        }
        for raw in ["1e-400", "-0", "1.7976931348623157e308", "[1e308, -1e308]"] {
            assert!(assert_same(&with("/unmapped", raw)).is_some(), "{raw}");
        }
        // Trailing data after the record.
        let mut bytes = with("/unmapped", "{}");
        bytes.extend_from_slice(b" \n\t");
        assert!(assert_same(&bytes).is_some());
        bytes.extend_from_slice(b"{}");
        assert_eq!(assert_same(&bytes), None);
    }

    #[test]
    fn objects_value_would_read_as_raw_values_are_declined() {
        let token = r#""$serde_json::private::RawValue""#;
        for (pointer, raw) in [
            ("/unmapped", format!("{{{token}: \"[1]\"}}")),
            ("/unmapped", format!("{{{token}: 5}}")),
            ("/unmapped", format!("{{{token}: \"[1]\", \"a\": 1}}")),
            ("/unmapped", format!("[{{\"a\": {{{token}: \"1\"}}}}]")),
            ("/metadata/product", format!("{{{token}: \"{{}}\"}}")),
            ("/cloud/account", format!("{{{token}: \"{{}}\"}}")),
        ] {
            let bytes = with(pointer, &raw);
            assert_no_false_accept(&bytes);
            assert_eq!(validate_fast(&bytes), None, "{pointer} = {raw}");
        }
        let text = String::from_utf8(with("/unmapped", "{}")).unwrap();
        let first = format!("{{{token}: {}, {}", json!(text), &text[1..]);
        assert_no_false_accept(first.as_bytes());
        assert_eq!(validate_fast(first.as_bytes()), None);
        let only = format!("{{{token}: {}}}", json!(text));
        assert_no_false_accept(only.as_bytes());
        assert_eq!(validate_fast(only.as_bytes()), None);
    }

    #[test]
    fn duplicated_members_are_left_to_the_full_path() {
        let text = String::from_utf8(with("/unmapped", "{}")).unwrap();
        // The record with `"member":value` written as `"member":first,"member":last`.
        let dup = |member: &str, value: &str, first: &str, last: &str| {
            let needle = format!("\"{member}\":{value}");
            assert!(text.contains(&needle), "{needle}");
            let twice = format!("\"{member}\":{first},\"{member}\":{last}");
            text.replacen(&needle, &twice, 1)
        };
        for (member, value, other) in [
            ("class_uid", "2004", "2004"),
            ("class_uid", "2004", "2003"),
            ("time", "1739800000", "-1"),
            ("severity", "\"High\"", "\"Low\""),
            ("status_code", "\"FAIL\"", "\"PASS\""),
            ("status_id", "1", "null"),
            ("version", "\"1.4.0\"", "1"),
            ("uid", "\"f-1\"", "\"f-0\""),
            ("region", "\"us-east-1\"", "\"eu-west-1\""),
            ("uid", "\"123456789012\"", "\"1\""),
            ("event_code", "\"s3_bucket_public\"", "\"x\""),
            ("product", "{\"name\":\"Prowler\"}", "[]"),
            ("resources", "[{\"uid\":\"arn:aws:s3:::b\"}]", "7"),
            ("uid", "\"arn:aws:s3:::b\"", "\"\""),
        ] {
            // The full path keeps the last: a valid record, which the fast path declines.
            let record = dup(member, value, other, value);
            assert!(full_accepts(record.as_bytes()), "{record}");
            assert_eq!(validate_fast(record.as_bytes()), None, "{record}");
            // The other way round the full path refuses it, or reads other fields.
            let record = dup(member, value, value, other);
            assert_no_false_accept(record.as_bytes());
            assert_eq!(validate_fast(record.as_bytes()), None, "{record}");
        }
        // Duplicated members that no rule reads change nothing.
        let record = text.replacen("\"unmapped\":{}", "\"unmapped\":{},\"unmapped\":[1]", 1);
        assert!(assert_same(record.as_bytes()).is_some());
    }

    /// A pretty-printed Prowler finding with nested data no rule reads, escapes and
    /// non-ASCII text.
    fn prowler_record() -> String {
        let mut compliance = serde_json::Map::new();
        for (i, framework) in [
            "CIS-4.0.1",
            "NIST-CSF-2.0",
            "KISA-ISMS-P-2023-korean",
            "ENS-RD2022",
        ]
        .iter()
        .enumerate()
        {
            compliance.insert(framework.to_string(), json!([format!("1.{i}"), "2.10.2"]));
        }
        let record = json!({
            "message": "S3 Bucket \"logs\" has public \\ access — «ouvert» 公開",
            "metadata": {
                "event_code": "s3_bucket_public_access",
                "product": {"name": "Prowler", "uid": "prowler", "vendor_name": "Prowler", "version": "5.46.0"},
                "profiles": ["cloud", "datetime"],
                "tenant_uid": "",
                "version": "1.5.0"
            },
            "severity_id": 5,
            "severity": "Critical",
            "status": "New",
            "status_code": "FAIL",
            "status_detail": "Line one\nLine two\ttabbed\r\n\u{7f}\u{1F512}",
            "status_id": 1,
            "unmapped": {
                "related_url": "",
                "categories": ["internet-exposed", "trust-boundaries"],
                "depends_on": [],
                "related_to": [[], [[]], {}],
                "additional_urls": ["https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html?a=1&b=%20"],
                "notes": null,
                "scores": [1.5, -2, 0, 1e10, 18446744073709551615_u64, -9223372036854775808_i64],
                "compliance": compliance,
                "nested": {"a": {"b": {"c": {"d": [{"e": [true, false, null]}]}}}},
                "scan_id": "01a242d5-93c6-7b2b-b195-b93be3cedaf8"
            },
            "activity_name": "Create",
            "activity_id": 1,
            "finding_info": {
                "analytic": {"category": "s3", "name": "Bucket public", "type": "Rule", "type_id": 1, "uid": "s3_bucket_public_access"},
                "created_time": 1796417622,
                "created_time_dt": "2026-12-04T20:53:42.982829",
                "desc": "**S3** buckets \u{2014} `PutBucketPolicy` with \"Principal\": \"*\".\n\nÜberprüfen.",
                "title": "S3 bucket is publicly accessible",
                "types": ["Software and Configuration Checks/AWS Security Best Practices"],
                "uid": "prowler-aws-s3_bucket_public_access-123456789012-eu-west-3-logs-bücket"
            },
            "resources": [
                {
                    "cloud_partition": "aws",
                    "region": "eu-west-3",
                    "data": {"details": "", "metadata": {"Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\"}]}"}},
                    "group": {"name": "s3"},
                    "labels": [],
                    "name": "logs",
                    "type": "AwsS3Bucket",
                    "uid": "arn:aws:s3:::logs-bücket"
                },
                {"uid": "arn:aws:s3:::second", "labels": ["a", "b"], "data": null}
            ],
            "category_name": "Findings",
            "category_uid": 2,
            "class_name": "Detection Finding",
            "class_uid": 2004,
            "cloud": {
                "account": {"name": "prod", "type": "AWS Account", "type_id": 10, "uid": "123456789012", "labels": []},
                "org": {"name": "", "ou_uid": "", "ou_name": "", "uid": ""},
                "provider": "aws",
                "region": "eu-west-3"
            },
            "remediation": {"desc": "Enable **Block Public Access**.", "references": ["https://hub.prowler.com/check/s3_bucket_public_access"]},
            "risk_details": "Data exfiltration (C) and tampering (I).",
            "time": 1796417622,
            "time_dt": "2026-12-04T20:53:42.982829",
            "type_uid": 200401,
            "type_name": "Detection Finding: Create"
        });
        // Also some escapes that serde_json would not write itself.
        serde_json::to_string_pretty(&record)
            .unwrap()
            .replace("\"Create\"", "\"Cr\\u0065ate\\/\"")
            .replace(
                "\"severity\": \"Critical\"",
                "\"sev\\u0065rity\": \"CRITICAL\"",
            )
    }

    #[test]
    fn a_realistic_prowler_record_gets_the_same_fields_from_both_paths() {
        let text = prowler_record();
        assert!(text.contains("\n  \"metadata\": {") && text.contains("\\u0065"));
        let rec = assert_same(text.as_bytes()).expect("the record is valid");
        assert_eq!(
            rec,
            ValidRecord {
                uid: "prowler-aws-s3_bucket_public_access-123456789012-eu-west-3-logs-bücket"
                    .into(),
                severity: "Critical",
                status_code: Some("FAIL".into()),
                provider: Some("aws".into()),
                account_uid: Some("123456789012".into()),
                region: Some("eu-west-3".into()),
                check_id: Some("s3_bucket_public_access".into()),
            }
        );
        // Compact, too.
        let compact: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(assert_same(compact.to_string().as_bytes()), Some(rec));
    }

    /// Every member the rules read, set to one value of each kind.
    #[test]
    fn every_member_set_to_every_kind_of_value_agrees() {
        let members = [
            "/class_uid",
            "/category_uid",
            "/activity_id",
            "/type_uid",
            "/severity_id",
            "/severity",
            "/time",
            "/metadata",
            "/metadata/product",
            "/metadata/version",
            "/metadata/event_code",
            "/finding_info",
            "/finding_info/uid",
            "/finding_info/title",
            "/resources",
            "/resources/0",
            "/resources/0/uid",
            "/cloud",
            "/cloud/provider",
            "/cloud/region",
            "/cloud/account",
            "/cloud/account/uid",
            "/status_id",
            "/status_code",
            "/status",
            "/unmapped",
        ];
        let values = [
            "null",
            "true",
            "false",
            "0",
            "1",
            "2",
            "4",
            "99",
            "2004",
            "200401",
            "-1",
            "1.0",
            "1e3",
            "\"\"",
            "\"x\"",
            "\"High\"",
            "\"2004\"",
            "[]",
            "{}",
            "[{}]",
            "{\"uid\": \"a\"}",
            "[{\"uid\": \"a\"}]",
            "{\"name\": {}}",
            "[null]",
        ];
        let mut accepted = 0;
        for member in members {
            for value in values {
                let bytes = if member == "/resources/0" {
                    // An array element: replaced through its array.
                    with("/resources", &format!("[{value}]"))
                } else {
                    with(member, value)
                };
                accepted += usize::from(assert_same(&bytes).is_some());
            }
        }
        assert!(accepted > 50, "{accepted}");
    }

    /// Random edits of a valid record: the fast path never accepts what the full path
    /// refuses, and accepts what it accepts unless a member was duplicated.
    #[test]
    fn random_edits_never_make_a_false_accept() {
        let compact = serde_json::from_str::<Value>(&prowler_record())
            .unwrap()
            .to_string();
        let snippets: &[&[u8]] = &[
            b"null",
            b"0",
            b"-1",
            b"1.0",
            b"1e3",
            b"1e400",
            b"\"\"",
            b"\"x\"",
            b"[",
            b"]",
            b"{",
            b"}",
            b",",
            b":",
            b"\"",
            b"\\",
            b"\\u",
            b"\\ud800",
            b"\\u0041",
            b"\xff",
            b"\xc3\xa9",
            b" ",
            b"\"class_uid\":2004,",
            b"\"uid\":\"u\",",
            b"[]",
            b"{}",
            b"\"status\":null,",
            b"\"$serde_json::private::RawValue\":\"1\",",
        ];
        // Smaller, so that edits hit the members the rules read more often.
        let small = with("/unmapped", "[1, {\"a\": \"b\"}]");
        let mut rng = StdRng::seed_from_u64(0x0c5f);
        let (mut accepted, mut declined_valid) = (0, 0);
        for round in 0..3000 {
            let source = if round % 2 == 0 {
                compact.as_bytes()
            } else {
                &small
            };
            let mut bytes = source.to_vec();
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => {
                        let snippet = snippets[rng.random_range(0..snippets.len())];
                        bytes.splice(at..at, snippet.iter().copied());
                    }
                    _ => {
                        let end = (at + rng.random_range(1..8)).min(bytes.len());
                        let snippet = snippets[rng.random_range(0..snippets.len())];
                        bytes.splice(at..end, snippet.iter().copied());
                    }
                }
            }
            let valid = assert_no_false_accept(&bytes);
            match (validate_fast(&bytes).is_some(), valid) {
                (true, _) => accepted += 1,
                (false, true) => declined_valid += 1,
                (false, false) => {}
            }
        }
        // The edits must produce both valid and invalid records to test anything.
        assert!(accepted > 100, "{accepted}");
        assert!(declined_valid < 100, "{declined_valid}");
    }
}
