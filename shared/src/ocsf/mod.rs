//! OCSF Detection Finding files: the structural check made at upload time and the
//! per-record rules applied by the processor.

mod fast;
mod structure;
mod validate;

pub use fast::{validate_fast, validate_fast_prefix, FastRecord};
pub use structure::{check_gzip_structure, check_structure, StructureError};
pub use validate::{validate_record, RecordError, ValidRecord, MAX_RECORD_BYTES};
