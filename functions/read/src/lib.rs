//! The read function: the `GET` endpoints of API.md (jobs, their errors, findings) and
//! the API's answers for unknown paths and wrong methods (it serves the HTTP API's
//! `$default` route). Parameters are checked in `query`, each endpoint lives in its own
//! module, and all storage access goes through `shared::store` by Query and GetItem.

mod errors;
mod findings;
mod ingestions;
mod query;
mod routes;

use lambda_http::http::header;
use lambda_http::{Body, Error, Request, Response};
use shared::auth::Permission;
use shared::{ApiError, Deps};

pub use query::Query;
pub use routes::{route, Route};

/// Lambda handler: every outcome is an HTTP response; only a broken runtime is an `Err`.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(match read(deps, &request).await {
        Ok(response) => response,
        Err(err) => err.to_response(),
    })
}

async fn read(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path();
    let route = route(request.method().as_str(), path)?;
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = deps.auth.authenticate(authorization).await?;
    principal.require(route.permission())?;
    let tenant = principal.tenant_id.as_str();
    let query = Query::parse(request.uri().query());
    match route {
        Route::Ingestion { id } => ingestions::get(deps, tenant, &id, &query).await,
        Route::Ingestions => ingestions::list(deps, tenant, path, &query).await,
        Route::IngestionErrors { id } => errors::list(deps, tenant, &id, path, &query).await,
        Route::Findings => findings::list(deps, tenant, path, &query).await,
        Route::Finding { uid } => findings::get(deps, tenant, &uid, &query).await,
    }
}

impl Route {
    fn permission(&self) -> Permission {
        match self {
            Route::Findings | Route::Finding { .. } => Permission::ReadFindings,
            _ => Permission::ManageIngestions,
        }
    }
}
