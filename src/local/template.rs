//! Reading template.yaml: the resources to provision, the HTTP routes, the queue event
//! sources and the functions' environment, so the local stack cannot drift from the
//! deployment.

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::Value;

/// The template the binary was built with.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// A value in the template that may refer to another resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref {
    Literal(String),
    /// `!Ref X`: a resource's name (a queue's URL) or a parameter's value.
    Ref(String),
    /// `!GetAtt X.Attr`
    GetAtt(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: String,
    /// `/api/v1/ingestions/{id}` or `$default`.
    pub path: String,
    pub function: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueEvent {
    pub function: String,
    pub queue: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone)]
pub struct Template {
    doc: Value,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_yaml::from_str(text).context("template.yaml is not valid YAML")?;
        Ok(Self { doc })
    }

    pub fn embedded() -> Result<Self> {
        Self::parse(TEMPLATE)
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.doc["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    /// Logical ids and properties of every resource of a type.
    pub fn resources_of_type<'a>(&'a self, ty: &'a str) -> Vec<(&'a str, &'a Value)> {
        self.resources()
            .filter(|(_, r)| r["Type"].as_str() == Some(ty))
            .map(|(id, r)| (id, &r["Properties"]))
            .collect()
    }

    /// A parameter's default value.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        scalar(&self.doc["Parameters"][name]["Default"])
    }

    /// The functions' environment (Globals merged with each function's own; the local
    /// stack runs all functions in one process, so they must agree).
    pub fn environment(&self) -> Result<Vec<(String, Ref)>> {
        let mut vars = Vec::new();
        let globals = &self.doc["Globals"]["Function"]["Environment"]["Variables"];
        let functions = self.resources_of_type("AWS::Serverless::Function");
        let own = functions
            .iter()
            .map(|(_, props)| &props["Environment"]["Variables"]);
        for map in std::iter::once(globals).chain(own) {
            for (k, v) in map.as_mapping().into_iter().flatten() {
                let name = k
                    .as_str()
                    .ok_or_else(|| anyhow!("non-string variable name"))?;
                let value = reference(v).with_context(|| format!("variable {name}"))?;
                if let Some((_, existing)) = vars.iter().find(|(n, _)| n == name) {
                    if existing != &value {
                        bail!("functions disagree on environment variable {name}");
                    }
                    continue;
                }
                vars.push((name.to_string(), value));
            }
        }
        Ok(vars)
    }

    /// Every HTTP API route and the function behind it.
    pub fn routes(&self) -> Vec<Route> {
        self.events("HttpApi")
            .into_iter()
            .filter_map(|(function, props)| {
                Some(Route {
                    method: props["Method"].as_str()?.to_ascii_uppercase(),
                    path: props["Path"].as_str()?.to_string(),
                    function,
                })
            })
            .collect()
    }

    /// Every SQS event source.
    pub fn queue_events(&self) -> Result<Vec<QueueEvent>> {
        self.events("SQS")
            .into_iter()
            .map(|(function, props)| {
                let queue = match reference(&props["Queue"])? {
                    Ref::GetAtt(id, _) | Ref::Ref(id) => id,
                    Ref::Literal(arn) => bail!("queue {arn} is not a template resource"),
                };
                let report = props["FunctionResponseTypes"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|v| v.as_str() == Some("ReportBatchItemFailures"));
                Ok(QueueEvent {
                    function,
                    queue,
                    batch_size: props["BatchSize"].as_i64().unwrap_or(10) as i32,
                    report_batch_item_failures: report,
                })
            })
            .collect()
    }

    /// A function's timeout in seconds (its own, else the Globals', else Lambda's 3 s).
    pub fn timeout_of(&self, function: &str) -> u64 {
        self.doc["Resources"][function]["Properties"]["Timeout"]
            .as_u64()
            .or_else(|| self.doc["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap_or(3)
    }

    /// A function's binary name (its `BuildProperties.Binary`).
    pub fn binary_of(&self, function: &str) -> Option<&str> {
        self.doc["Resources"][function]["Metadata"]["BuildProperties"]["Binary"].as_str()
    }

    fn events(&self, ty: &str) -> Vec<(String, &Value)> {
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .flat_map(|(function, props)| {
                props["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .filter(move |(_, e)| e["Type"].as_str() == Some(ty))
                    .map(move |(_, e)| (function.to_string(), &e["Properties"]))
            })
            .collect()
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads `!Ref X`, `!GetAtt X.Y`, `{Ref: X}`, `{Fn::GetAtt: [X, Y]}` or a literal.
pub fn reference(v: &Value) -> Result<Ref> {
    if let Some(s) = scalar(v) {
        return Ok(Ref::Literal(s));
    }
    let (tag, inner) = match v {
        Value::Tagged(t) => (t.tag.to_string(), t.value.clone()),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().ok_or_else(|| anyhow!("empty mapping"))?;
            (k.as_str().unwrap_or_default().to_string(), v.clone())
        }
        other => bail!("unsupported value {other:?}"),
    };
    let tag = tag.trim_start_matches('!').trim_start_matches("Fn::");
    match (tag, &inner) {
        ("Ref", Value::String(id)) => Ok(Ref::Ref(id.clone())),
        ("GetAtt", Value::String(path)) => {
            let (id, attr) = path
                .split_once('.')
                .ok_or_else(|| anyhow!("GetAtt {path} has no attribute"))?;
            Ok(Ref::GetAtt(id.into(), attr.into()))
        }
        ("GetAtt", Value::Sequence(parts)) if parts.len() == 2 => Ok(Ref::GetAtt(
            scalar(&parts[0]).unwrap_or_default(),
            scalar(&parts[1]).unwrap_or_default(),
        )),
        _ => bail!("unsupported intrinsic {tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_template_describes_the_service() {
        let t = Template::embedded().unwrap();
        let routes = t.routes();
        assert!(routes.contains(&Route {
            method: "POST".into(),
            path: "/api/v1/ingestions".into(),
            function: "UploadFunction".into()
        }));
        assert!(routes.iter().any(|r| r.path == "$default"));
        let events = t.queue_events().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].queue, "IngestQueue");
        assert!(events[0].report_batch_item_failures);
        let env = t.environment().unwrap();
        assert!(env.contains(&("QUEUE_URL".into(), Ref::Ref("IngestQueue".into()))));
        assert_eq!(t.binary_of("ProcessorFunction"), Some("processor"));
        assert_eq!(t.timeout_of("ProcessorFunction"), 900);
        assert_eq!(t.timeout_of("ReadFunction"), 30, "from Globals");
        assert_eq!(
            t.parameter_default("MaxUploadBytes").as_deref(),
            Some("4194304")
        );
    }

    #[test]
    fn long_and_short_intrinsics_read_alike() {
        let short: Value = serde_yaml::from_str("!GetAtt Q.Arn").unwrap();
        let long: Value = serde_yaml::from_str("{'Fn::GetAtt': [Q, Arn]}").unwrap();
        assert_eq!(reference(&short).unwrap(), reference(&long).unwrap());
        let r: Value = serde_yaml::from_str("!Ref T").unwrap();
        assert_eq!(reference(&r).unwrap(), Ref::Ref("T".into()));
    }
}
