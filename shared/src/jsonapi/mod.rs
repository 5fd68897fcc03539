//! JSON:API documents: the one error builder, the one response builder, and the
//! resource objects the API returns.

mod error;
mod ingestions;
mod pagination;
mod response;

pub use error::{ApiError, ErrorSource};
pub use ingestions::ingestion_resource;
pub use pagination::{
    page_link, paginated_document, PageRequest, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use response::{document, json_response, CONTENT_TYPE};
