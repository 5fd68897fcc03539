//! Starting the whole local stack in one call.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::auth::Permission;
use shared::aws::AwsClients;
use shared::{Config, Deps};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::feeder::{Feeder, SqsHandler};
use super::gateway::{Gateway, HttpHandler};
use super::moto::{self, Moto};
use super::provision::{provision, resolve_environment, ProvisionOptions};
use super::template::Template;
use crate::admin::create_key;

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Gateway port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// moto's port (0: any free port). Ignored with `moto_endpoint`.
    pub moto_port: u16,
    /// Use an already running moto instead of starting one.
    pub moto_endpoint: Option<String>,
    /// Where moto is (or gets) installed.
    pub venv: PathBuf,
    /// Prefix of every resource name, so stacks can share a moto.
    pub prefix: String,
    pub provision: ProvisionOptions,
    /// Tenant created for the printed key.
    pub tenant_id: String,
    /// Function environment variables to set over the template's (tests use this to
    /// shrink limits or point a function at a missing resource).
    pub env_overrides: Vec<(String, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            port: 3000,
            moto_port: 5000,
            moto_endpoint: None,
            venv: PathBuf::from(".venv"),
            prefix: "ocsf-local".into(),
            provision: ProvisionOptions::default(),
            tenant_id: "dev".into(),
            env_overrides: Vec::new(),
        }
    }
}

/// A running local stack. Dropping it stops the gateway, the feeders and moto.
pub struct LocalStack {
    pub base_url: String,
    pub moto_endpoint: String,
    /// A key with every permission for `tenant_id`.
    pub api_key: String,
    pub tenant_id: String,
    pub config: Config,
    pub clients: AwsClients,
    pub deps: Arc<Deps>,
    tasks: Vec<JoinHandle<()>>,
    _moto: Option<Moto>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// SDK clients for a moto endpoint (fixed dummy credentials, us-east-1).
pub async fn moto_clients(endpoint: &str) -> AwsClients {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "local"))
        .endpoint_url(endpoint)
        .load()
        .await;
    AwsClients::from_sdk_config(&config)
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<Self> {
        let template = Template::embedded()?;
        let (moto, endpoint) = match &options.moto_endpoint {
            Some(endpoint) => (None, endpoint.clone()),
            None => {
                let server = moto::ensure_installed(&options.venv).await?;
                let moto = moto::start(&server, options.moto_port).await?;
                let endpoint = moto.endpoint.clone();
                (Some(moto), endpoint)
            }
        };
        let clients = moto_clients(&endpoint).await;
        let provisioned = provision(&template, &clients, &options.prefix, &options.provision)
            .await
            .context("provisioning the template's resources in moto")?;
        let mut env = resolve_environment(&template, &provisioned)?;
        env.extend(options.env_overrides.iter().cloned());
        let config = Config::from_map(&env)?;
        let deps = Arc::new(Deps::new(&clients, config.clone()));

        let api_key = create_key(
            &deps.stores.keys,
            &options.tenant_id,
            "local development",
            &Permission::ALL,
            None,
        )
        .await?;

        let mut tasks = Vec::new();
        let mut routes = Vec::new();
        for route in template.routes() {
            let handler = http_handler(template.binary_of(&route.function), &deps)
                .ok_or_else(|| anyhow!("no local handler for {}", route.function))?;
            routes.push((route, handler));
        }
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let gateway = Gateway::new(routes);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = gateway.serve(listener).await {
                tracing::error!(error = %e, "gateway stopped");
            }
        }));
        for event in template.queue_events()? {
            let timeout = Duration::from_secs(template.timeout_of(&event.function));
            let handler = sqs_handler(template.binary_of(&event.function), timeout, &deps)
                .ok_or_else(|| anyhow!("no local handler for {}", event.function))?;
            let feeder = Feeder {
                clients: clients.clone(),
                queue_url: provisioned.refs[&event.queue].clone(),
                queue_arn: provisioned.arns[&event.queue].clone(),
                batch_size: event.batch_size,
                report_batch_item_failures: event.report_batch_item_failures,
                handler,
            };
            tasks.push(tokio::spawn(feeder.run()));
        }
        Ok(Self {
            base_url,
            moto_endpoint: endpoint,
            api_key,
            tenant_id: options.tenant_id,
            config,
            clients,
            deps,
            tasks,
            _moto: moto,
        })
    }

    /// Creates another tenant's key (tests of isolation and permissions use this).
    pub async fn create_key(&self, tenant_id: &str, permissions: &[Permission]) -> Result<String> {
        create_key(&self.deps.stores.keys, tenant_id, "test", permissions, None).await
    }
}

fn http_handler(binary: Option<&str>, deps: &Arc<Deps>) -> Option<HttpHandler> {
    let deps = deps.clone();
    match binary? {
        "upload" => Some(Arc::new(move |request| {
            let deps = deps.clone();
            Box::pin(async move { upload::handle(&deps, request).await })
        })),
        "read" => Some(Arc::new(move |request| {
            let deps = deps.clone();
            Box::pin(async move { read::handle(&deps, request).await })
        })),
        _ => None,
    }
}

/// The processor's handler, invoked with the deadline Lambda would give it: now plus
/// the function's timeout from the template.
fn sqs_handler(binary: Option<&str>, timeout: Duration, deps: &Arc<Deps>) -> Option<SqsHandler> {
    let deps = deps.clone();
    match binary? {
        "processor" => Some(Arc::new(move |event| {
            let deps = deps.clone();
            Box::pin(async move {
                let mut context = lambda_runtime::Context::default();
                let deadline = SystemTime::now() + timeout;
                context.deadline = deadline
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let event = lambda_runtime::LambdaEvent::new(event, context);
                processor::handle(&deps, event).await
            })
        })),
        _ => None,
    }
}
