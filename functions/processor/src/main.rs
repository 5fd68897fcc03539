use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = shared::Deps::from_env().await?;
    run(service_fn(|event| processor::handle(&deps, event))).await
}
