//! `ocsf-ingest`: run the service locally (`dev`) and administer tenants and API keys
//! (`keys`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ocsf_ingest::local::{LocalStack, StackOptions};
use shared::auth::Permission;
use shared::aws::AwsClients;
use shared::store::KeysStore;

#[derive(Parser)]
#[command(
    name = "ocsf-ingest",
    version,
    about = "Self-hosted OCSF findings ingestion for AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole service locally: moto (S3, DynamoDB, SQS), the resources from
    /// template.yaml, the HTTP API and the queue processor. Ctrl-C stops everything.
    Dev {
        /// Port of the HTTP API on 127.0.0.1.
        #[arg(long, default_value_t = 3000, env = "OCSF_INGEST_PORT")]
        port: u16,
        /// Port of the moto server it starts.
        #[arg(long, default_value_t = 5000, env = "OCSF_INGEST_MOTO_PORT")]
        moto_port: u16,
        /// Use this running moto instead of starting one.
        #[arg(long, env = "OCSF_INGEST_MOTO_ENDPOINT")]
        moto_endpoint: Option<String>,
        /// Virtualenv where moto is installed (created on first run).
        #[arg(long, default_value = ".venv", env = "OCSF_INGEST_VENV")]
        venv: PathBuf,
    },
    /// Tenants and API keys, in the deployment's keys table (AWS credentials and region
    /// from the usual AWS environment; AWS_ENDPOINT_URL for the local stack's moto).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for a tenant (the tenant is created if it does not exist). The key is
    /// printed once; only its hash is stored.
    Create {
        /// The keys table: the stack output KeysTableName.
        #[arg(long, env = "KEYS_TABLE")]
        keys_table: String,
        #[arg(long)]
        tenant: String,
        /// A label to recognise the key by.
        #[arg(long, default_value = "default")]
        name: String,
        /// manage_ingestions and/or read_findings (default: both).
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// Days until the key expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    Permission::parse(s)
        .ok_or_else(|| format!("unknown permission {s:?}: use manage_ingestions or read_findings"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev {
            port,
            moto_port,
            moto_endpoint,
            venv,
        } => dev(port, moto_port, moto_endpoint, venv).await,
        Command::Keys {
            command:
                KeysCommand::Create {
                    keys_table,
                    tenant,
                    name,
                    permissions,
                    expires_in_days,
                },
        } => {
            let clients = AwsClients::from_env().await;
            let keys = KeysStore::new(clients.dynamodb, &keys_table);
            let permissions = if permissions.is_empty() {
                Permission::ALL.to_vec()
            } else {
                permissions
            };
            let expires_at = expires_in_days
                .map(|days| shared::time::now() + time::Duration::days(i64::from(days)));
            let key =
                ocsf_ingest::admin::create_key(&keys, &tenant, &name, &permissions, expires_at)
                    .await?;
            println!("{key}");
            Ok(())
        }
    }
}

async fn dev(
    port: u16,
    moto_port: u16,
    moto_endpoint: Option<String>,
    venv: PathBuf,
) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_target(false)
        .init();
    let stack = LocalStack::start(StackOptions {
        port,
        moto_port,
        moto_endpoint,
        venv,
        ..StackOptions::default()
    })
    .await?;
    println!(
        "\nOCSF ingestion API listening on {url}\n\
         moto (S3, DynamoDB, SQS) on {moto}\n\
         tenant: {tenant}\n\
         API key (shown once): {key}\n\n\
         Try it:\n  \
         export KEY={key}\n  \
         curl -H \"Authorization: Api-Key $KEY\" -F \"file=@scan.ocsf.json;type=application/json\" {url}/api/v1/ingestions\n\n\
         Or push a Prowler scan:\n  \
         PROWLER_CLOUD_API_BASE_URL={url} PROWLER_CLOUD_API_KEY=$KEY prowler aws --push-to-cloud\n\n\
         Ctrl-C to stop.",
        url = stack.base_url,
        moto = stack.moto_endpoint,
        tenant = stack.tenant_id,
        key = stack.api_key,
    );
    wait_for_stop_signal().await?;
    eprintln!("stopping");
    drop(stack);
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
