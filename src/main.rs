//! `ocsf-ingest`: run the service locally (`dev`) and administer tenants and API keys
//! (`tenants`, `keys`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use ocsf_ingest::admin;
use ocsf_ingest::local::{LocalStack, StackOptions};
use shared::auth::{parse_prefix, Permission};
use shared::aws::AwsClients;
use shared::store::{KeysStore, RevokeOutcome};
use time::OffsetDateTime;

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
    /// Tenants: every key belongs to one, and all data is scoped to it.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// API keys: create, list, revoke. The key is printed once at creation; only a hash
    /// of its secret is stored.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// Where the admin commands work: the deployment's keys table.
#[derive(Args)]
struct Table {
    /// The keys table: the stack output KeysTableName. AWS credentials and region come
    /// from the usual AWS environment (AWS_PROFILE, AWS_REGION, ...); for the local stack
    /// set AWS_ENDPOINT_URL to its moto and use ocsf-local-keystable.
    #[arg(long, env = "KEYS_TABLE")]
    keys_table: String,
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Create a tenant (nothing changes if it already exists).
    Create {
        #[command(flatten)]
        table: Table,
        /// Tenant id: 1 to 64 characters from a-z, A-Z, 0-9, '.', '_' and '-'.
        #[arg(long)]
        tenant: String,
        /// A display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// List every tenant.
    List {
        #[command(flatten)]
        table: Table,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for an existing tenant and print it (stdout, once). Only the hash of
    /// its secret is stored: a lost key cannot be shown again, only replaced.
    Create {
        #[command(flatten)]
        table: Table,
        /// The tenant the key is for.
        #[arg(long)]
        tenant: String,
        /// A label to recognise the key by in `keys list`.
        #[arg(long, default_value = "default")]
        name: String,
        /// manage_ingestions (all /ingestions endpoints) and/or read_findings
        /// (/findings); repeat for both. Default: both.
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// Days until the key expires (default: never).
        #[arg(long, conflicts_with = "expires_at")]
        expires_in_days: Option<u32>,
        /// When the key expires, RFC 3339 (e.g. 2027-01-31T00:00:00Z).
        #[arg(long, value_parser = parse_time)]
        expires_at: Option<OffsetDateTime>,
        /// Create the tenant too if it does not exist (otherwise an unknown tenant is an
        /// error, so a typo cannot silently start a new tenant).
        #[arg(long)]
        create_tenant: bool,
    },
    /// List a tenant's keys: prefix, name, permissions, state, created, expires, last
    /// used (recorded at most once a minute) and revoked. Never the secret.
    List {
        #[command(flatten)]
        table: Table,
        /// The tenant whose keys to list.
        #[arg(long)]
        tenant: String,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key. Functions that looked it up in the last API_KEY_CACHE_SECONDS
    /// (at most 60) may accept it until their cached lookup expires; after that it
    /// answers 401.
    Revoke {
        #[command(flatten)]
        table: Table,
        /// The tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// The key's prefix as `keys list` shows it (`pk_<prefix>` or the whole key
        /// work too).
        #[arg(long, value_parser = parse_key_prefix)]
        prefix: String,
    },
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    Permission::parse(s)
        .ok_or_else(|| format!("unknown permission {s:?}: use manage_ingestions or read_findings"))
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    shared::time::parse(s).ok_or_else(|| format!("{s:?} is not an RFC 3339 time"))
}

fn parse_key_prefix(s: &str) -> Result<String, String> {
    parse_prefix(s)
        .map(str::to_string)
        .ok_or_else(|| format!("{s:?} is not a key prefix: 8 characters as `keys list` shows"))
}

async fn keys_store(table: &Table) -> KeysStore {
    let clients = AwsClients::from_env().await;
    KeysStore::new(clients.dynamodb, &table.keys_table)
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
        Command::Tenants { command } => tenants(command).await,
        Command::Keys { command } => keys(command).await,
    }
}

async fn tenants(command: TenantsCommand) -> Result<()> {
    match command {
        TenantsCommand::Create {
            table,
            tenant,
            name,
        } => {
            let store = keys_store(&table).await;
            let name = name.unwrap_or_else(|| tenant.clone());
            if admin::create_tenant(&store, &tenant, &name).await? {
                println!("created tenant {tenant}");
            } else {
                println!("tenant {tenant} already exists");
            }
        }
        TenantsCommand::List { table } => {
            let store = keys_store(&table).await;
            for tenant in admin::list_tenants(&store).await? {
                println!(
                    "{}\t{}\t{}",
                    tenant.tenant_id,
                    shared::time::format(tenant.created_at),
                    tenant.name
                );
            }
        }
    }
    Ok(())
}

async fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            table,
            tenant,
            name,
            permissions,
            expires_in_days,
            expires_at,
            create_tenant,
        } => {
            let store = keys_store(&table).await;
            if create_tenant && admin::create_tenant(&store, &tenant, &tenant).await? {
                eprintln!("created tenant {tenant}");
            }
            let permissions = if permissions.is_empty() {
                Permission::ALL.to_vec()
            } else {
                permissions
            };
            let expires_at = expires_at.or_else(|| {
                expires_in_days
                    .map(|days| shared::time::now() + time::Duration::days(i64::from(days)))
            });
            let created = admin::issue_key(
                &store,
                &admin::NewKey {
                    tenant_id: &tenant,
                    name: &name,
                    permissions: &permissions,
                    expires_at,
                },
            )
            .await?;
            // The key alone on stdout (for scripts); what it is on stderr.
            println!("{}", created.full_key);
            eprintln!(
                "created key {} ({}) for tenant {tenant}: {}, expires {}. \
                 It is shown only now; store it safely.",
                created.info.prefix,
                created.info.name,
                created
                    .info
                    .permissions
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                created
                    .info
                    .expires_at
                    .map_or_else(|| "never".to_string(), shared::time::format),
            );
        }
        KeysCommand::List {
            table,
            tenant,
            json,
        } => {
            let store = keys_store(&table).await;
            let keys = admin::list_keys(&store, &tenant).await?;
            let now = shared::time::now();
            if json {
                let keys: Vec<_> = keys.iter().map(|k| admin::key_json(k, now)).collect();
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!("{}", admin::keys_table(&keys, now));
            }
        }
        KeysCommand::Revoke {
            table,
            tenant,
            prefix,
        } => {
            let store = keys_store(&table).await;
            match admin::revoke_key(&store, &tenant, &prefix).await? {
                RevokeOutcome::Revoked(at) => {
                    println!("revoked key {prefix} at {}", shared::time::format(at))
                }
                RevokeOutcome::AlreadyRevoked(at) => println!(
                    "key {prefix} was already revoked at {}",
                    shared::time::format(at)
                ),
                RevokeOutcome::NotFound => {
                    bail!("tenant {tenant:?} has no key with prefix {prefix}")
                }
            }
        }
    }
    Ok(())
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
