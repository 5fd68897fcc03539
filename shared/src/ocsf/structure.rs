//! Upload-time check: the bytes are one well-formed JSON array; count its elements
//! without building them.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StructureError {
    #[error("the file is not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("the file is not valid JSON: {message} at line {line}, column {column} (byte offset {offset})")]
    NotJson {
        message: String,
        line: usize,
        column: usize,
        offset: usize,
    },
    #[error("the file must be a JSON array of OCSF Detection Finding objects, but its top level is {found}")]
    NotAnArray { found: &'static str },
}

/// Checks that `bytes` (a leading UTF-8 BOM is tolerated) hold one JSON array and
/// returns how many elements it has.
pub fn check_structure(bytes: &[u8]) -> Result<u64, StructureError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| StructureError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    match first_significant_byte(text) {
        Some(b'[') | None => {}
        Some(other) => {
            // Still report malformed JSON as such, before complaining about the shape.
            if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
                return Err(not_json(text, &e));
            }
            return Err(StructureError::NotAnArray {
                found: describe(other),
            });
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let count = (&mut de)
        .deserialize_seq(CountElements)
        .and_then(|count| de.end().map(|_| count))
        .map_err(|e| not_json(text, &e))?;
    Ok(count)
}

fn first_significant_byte(text: &str) -> Option<u8> {
    text.bytes().find(|b| !b.is_ascii_whitespace())
}

fn describe(byte: u8) -> &'static str {
    match byte {
        b'{' => "an object",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

fn not_json(text: &str, e: &serde_json::Error) -> StructureError {
    let (line, column) = (e.line(), e.column());
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    StructureError::NotJson {
        message,
        line,
        column,
        offset: byte_offset(text, line, column),
    }
}

/// Converts serde_json's 1-based line and column (in bytes) into a byte offset.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    if line == 0 {
        return 0;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

struct CountElements;

impl<'de> Visitor<'de> for CountElements {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_elements_of_an_array() {
        assert_eq!(check_structure(b"[]"), Ok(0));
        assert_eq!(check_structure(b" [ {\"a\": [1,2]}, 3, \"x\" ]\n"), Ok(3));
        assert_eq!(check_structure(b"\xEF\xBB\xBF[{}]"), Ok(1));
    }

    #[test]
    fn rejects_other_top_levels() {
        assert_eq!(
            check_structure(b"{\"a\":1}"),
            Err(StructureError::NotAnArray { found: "an object" })
        );
        assert!(matches!(
            check_structure(b"{\"a\":"),
            Err(StructureError::NotJson { .. })
        ));
    }

    #[test]
    fn reports_line_column_and_offset() {
        let err = check_structure(b"[\n  {\"a\": 1},\n  {\"b\" 2}\n]").unwrap_err();
        match err {
            StructureError::NotJson {
                line,
                column,
                offset,
                ref message,
            } => {
                assert_eq!((line, column), (3, 8));
                assert_eq!(offset, 21, "0-based offset of the unexpected `2`");
                assert_eq!(message, "expected `:`");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err
            .to_string()
            .contains("line 3, column 8 (byte offset 21)"));
    }

    #[test]
    fn rejects_trailing_data_bad_utf8_and_deep_nesting() {
        assert!(matches!(
            check_structure(b"[] []"),
            Err(StructureError::NotJson { .. })
        ));
        assert_eq!(
            check_structure(b"[\"\xff\"]"),
            Err(StructureError::NotUtf8 { offset: 2 })
        );
        // Skipping values is iterative in serde_json: deep nesting cannot overflow the stack.
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check_structure(deep.as_bytes()), Ok(1));
    }
}
