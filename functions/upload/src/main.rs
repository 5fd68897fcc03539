use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = shared::Deps::from_env().await?;
    run(service_fn(|request| upload::handle(&deps, request))).await
}
