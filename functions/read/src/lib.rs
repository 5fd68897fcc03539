//! The read function: job status, and the API's answers for unknown paths and wrong
//! methods (it serves the HTTP API's `$default` route).

mod routes;

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use shared::auth::Permission;
use shared::jsonapi::{document, ingestion_resource, json_response};
use shared::{ApiError, Deps};

pub use routes::{route, Route};

/// Lambda handler: every outcome is an HTTP response; only a broken runtime is an `Err`.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(match read(deps, &request).await {
        Ok(response) => response,
        Err(err) => err.to_response(),
    })
}

async fn read(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let route = route(request.method().as_str(), request.uri().path())?;
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = deps.auth.authenticate(authorization).await?;
    principal.require(route.permission())?;
    match route {
        Route::Ingestion { id } => {
            let job = deps
                .stores
                .jobs
                .get(&principal.tenant_id, &id)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "job lookup failed");
                    ApiError::Internal
                })?
                .ok_or_else(ApiError::not_found)?;
            Ok(json_response(
                StatusCode::OK,
                &document(ingestion_resource(&job)),
            ))
        }
        Route::Ingestions
        | Route::IngestionErrors { .. }
        | Route::Findings
        | Route::Finding { .. } => Err(ApiError::NotFound(
            "this endpoint is not available yet".into(),
        )),
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
