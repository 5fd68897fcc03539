//! Creating the template's buckets, tables and queues in moto, under a name prefix so
//! several stacks can share one moto.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;
use shared::aws::AwsClients;

use super::template::{reference, Ref, Template};

/// What each logical id became: its `!Ref` value and its ARN.
#[derive(Debug, Default, Clone)]
pub struct Provisioned {
    pub refs: HashMap<String, String>,
    pub arns: HashMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// Overrides every queue's visibility timeout (seconds), so tests of redelivery do
    /// not wait the production 90 minutes.
    pub visibility_timeout: Option<u32>,
}

pub async fn provision(
    template: &Template,
    clients: &AwsClients,
    prefix: &str,
    options: &ProvisionOptions,
) -> Result<Provisioned> {
    let mut out = Provisioned::default();
    for (id, _) in template.resources_of_type("AWS::S3::Bucket") {
        let name = physical_name(prefix, id);
        let created = clients.s3.create_bucket().bucket(&name).send().await;
        if let Err(err) = created {
            // Provisioning again (a second `dev` on the same moto) is fine.
            if !err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you())
            {
                return Err(err).with_context(|| format!("creating bucket {name}"));
            }
        }
        out.arns.insert(id.into(), format!("arn:aws:s3:::{name}"));
        out.refs.insert(id.into(), name);
    }
    for (id, props) in template.resources_of_type("AWS::DynamoDB::Table") {
        let name = physical_name(prefix, id);
        create_table(clients, &name, props)
            .await
            .with_context(|| format!("creating table {name}"))?;
        out.arns.insert(
            id.into(),
            format!("arn:aws:dynamodb:us-east-1:123456789012:table/{name}"),
        );
        out.refs.insert(id.into(), name);
    }
    // Dead-letter queues first: a redrive policy names its target's ARN.
    let mut queues = template.resources_of_type("AWS::SQS::Queue");
    queues.sort_by_key(|(_, props)| !props["RedrivePolicy"].is_null());
    for (id, props) in queues {
        let name = physical_name(prefix, id);
        let (url, arn) = create_queue(template, clients, &name, props, &out, options)
            .await
            .with_context(|| format!("creating queue {name}"))?;
        out.arns.insert(id.into(), arn);
        out.refs.insert(id.into(), url);
    }
    // Last: a notification names its queue's ARN.
    for (id, props) in template.resources_of_type("AWS::S3::Bucket") {
        let bucket = &out.refs[id];
        configure_notifications(clients, bucket, &props["NotificationConfiguration"], &out)
            .await
            .with_context(|| format!("configuring notifications of bucket {bucket}"))?;
    }
    Ok(out)
}

/// The bucket's `QueueConfigurations` (events, key filter, target queue), so that moto
/// sends S3 event notifications to the local queue as S3 does to the deployed one.
/// Setting the same configuration again replaces it, so this is idempotent.
async fn configure_notifications(
    clients: &AwsClients,
    bucket: &str,
    config: &Value,
    provisioned: &Provisioned,
) -> Result<()> {
    let mut queues = Vec::new();
    for q in config["QueueConfigurations"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let queue_arn = match reference(&q["Queue"])? {
            Ref::GetAtt(id, attr) if attr == "Arn" => provisioned
                .arns
                .get(&id)
                .cloned()
                .ok_or_else(|| anyhow!("notification queue {id} was not created"))?,
            Ref::Literal(arn) => arn,
            other => bail!("a notification queue must be an ARN, found {other:?}"),
        };
        let rules = q["Filter"]["S3Key"]["Rules"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|rule| {
                Ok(FilterRule::builder()
                    .name(FilterRuleName::from(
                        str_of(&rule["Name"])?.to_ascii_lowercase().as_str(),
                    ))
                    .value(str_of(&rule["Value"])?)
                    .build())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut queue = QueueConfiguration::builder()
            .queue_arn(queue_arn)
            .events(Event::from(str_of(&q["Event"])?));
        if !rules.is_empty() {
            queue = queue.filter(
                NotificationConfigurationFilter::builder()
                    .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                    .build(),
            );
        }
        queues.push(queue.build()?);
    }
    if queues.is_empty() {
        return Ok(());
    }
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(queues))
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// Resolves the functions' environment against what was provisioned.
pub fn resolve_environment(
    template: &Template,
    provisioned: &Provisioned,
) -> Result<HashMap<String, String>> {
    template
        .environment()?
        .into_iter()
        .map(|(name, value)| {
            let resolved = match value {
                Ref::Literal(s) => s,
                Ref::Ref(id) => provisioned
                    .refs
                    .get(&id)
                    .cloned()
                    .or_else(|| template.parameter_default(&id))
                    .ok_or_else(|| anyhow!("{name}: nothing named {id} in the template"))?,
                Ref::GetAtt(id, attr) if attr == "Arn" => provisioned
                    .arns
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| anyhow!("{name}: no ARN for {id}"))?,
                Ref::GetAtt(id, attr) => bail!("{name}: unsupported attribute {id}.{attr}"),
            };
            Ok((name, resolved))
        })
        .collect()
}

/// `{prefix}-{logicalid}` in lower case: valid for buckets, tables and queues alike.
fn physical_name(prefix: &str, id: &str) -> String {
    format!("{prefix}-{}", id.to_ascii_lowercase())
}

async fn create_table(clients: &AwsClients, name: &str, props: &Value) -> Result<()> {
    let attributes = props["AttributeDefinitions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(str_of(&a["AttributeName"])?)
                .attribute_type(ScalarAttributeType::from(str_of(&a["AttributeType"])?))
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut request = clients
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    for index in props["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                index["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap_or("ALL"),
            ))
            .set_non_key_attributes(index["Projection"]["NonKeyAttributes"].as_sequence().map(
                |attrs| {
                    attrs
                        .iter()
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect()
                },
            ))
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(str_of(&index["IndexName"])?)
                .set_key_schema(Some(key_schema(&index["KeySchema"])?))
                .projection(projection)
                .build()?,
        );
    }
    if let Err(err) = request.send().await {
        if err
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception())
        {
            return Ok(());
        }
        return Err(err.into());
    }
    let ttl = &props["TimeToLiveSpecification"];
    if ttl["Enabled"].as_bool() == Some(true) {
        clients
            .dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(str_of(&ttl["AttributeName"])?)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(())
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_of(&k["AttributeName"])?)
                .key_type(KeyType::from(str_of(&k["KeyType"])?))
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect()
}

/// A number written literally or as `!Ref Parameter` (its default).
fn resolve_number(template: &Template, v: &Value) -> Result<u64> {
    let text = match reference(v)? {
        Ref::Literal(s) => s,
        Ref::Ref(param) => template
            .parameter_default(&param)
            .ok_or_else(|| anyhow!("parameter {param} has no default"))?,
        Ref::GetAtt(id, attr) => bail!("expected a number, found !GetAtt {id}.{attr}"),
    };
    text.parse()
        .with_context(|| format!("{text:?} is not a number"))
}

async fn create_queue(
    template: &Template,
    clients: &AwsClients,
    name: &str,
    props: &Value,
    provisioned: &Provisioned,
    options: &ProvisionOptions,
) -> Result<(String, String)> {
    let mut request = clients.sqs.create_queue().queue_name(name);
    let visibility = options
        .visibility_timeout
        .map(|v| v.to_string())
        .or_else(|| props["VisibilityTimeout"].as_u64().map(|v| v.to_string()));
    if let Some(v) = visibility {
        request = request.attributes(QueueAttributeName::VisibilityTimeout, v);
    }
    if let Some(v) = props["MessageRetentionPeriod"].as_u64() {
        request = request.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    let redrive = &props["RedrivePolicy"];
    if !redrive.is_null() {
        let target = match reference(&redrive["deadLetterTargetArn"])? {
            Ref::GetAtt(id, _) => provisioned
                .arns
                .get(&id)
                .cloned()
                .ok_or_else(|| anyhow!("dead-letter queue {id} not created yet"))?,
            Ref::Literal(arn) => arn,
            Ref::Ref(id) => bail!("RedrivePolicy must name an ARN, not !Ref {id}"),
        };
        let policy = serde_json::json!({
            "deadLetterTargetArn": target,
            "maxReceiveCount": resolve_number(template, &redrive["maxReceiveCount"])?,
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = request
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow!("no queue URL returned"))?;
    let arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow!("no queue ARN returned"))?;
    Ok((url, arn))
}

fn str_of(v: &Value) -> Result<&str> {
    v.as_str()
        .ok_or_else(|| anyhow!("expected a string, found {v:?}"))
}
