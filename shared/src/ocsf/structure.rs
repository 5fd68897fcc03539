//! Upload-time check: the bytes are one well-formed JSON array; count its elements
//! without building them.

use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use flate2::read::GzDecoder;
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
    #[error("the gzip data is corrupt: {0}")]
    CorruptGzip(String),
    #[error(
        "the file decompresses to more than {limit} bytes; split it, or use a presigned upload"
    )]
    TooLarge { limit: u64 },
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

/// The same check on gzip-compressed bytes, decompressing as it reads: memory stays flat
/// and decompression stops as soon as the output passes `limit` (gzip-bomb guard).
pub fn check_gzip_structure(compressed: &[u8], limit: u64) -> Result<u64, StructureError> {
    let state = Rc::new(Cell::new(ReadState::Ok));
    let reader = GuardedReader {
        inner: GzDecoder::new(compressed),
        remaining: limit,
        limit,
        state: state.clone(),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let buffered = reader.fill_buf();
    let fault = |state: &Cell<ReadState>, fallback: String| match state.get() {
        ReadState::TooLarge => StructureError::TooLarge { limit },
        ReadState::Corrupt => StructureError::CorruptGzip(fallback),
        ReadState::Ok => StructureError::CorruptGzip(fallback),
    };
    match buffered {
        Ok(head) => {
            if head.starts_with(b"\xEF\xBB\xBF") {
                reader.consume(3);
            }
        }
        Err(e) => return Err(fault(&state, e.to_string())),
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let counted = (&mut de)
        .deserialize_seq(CountElements)
        .and_then(|count| de.end().map(|_| count));
    match counted {
        Ok(count) => Ok(count),
        Err(e) if e.is_io() => Err(fault(&state, e.to_string())),
        // Garbage out of a damaged stream reads as bad JSON: name the real cause.
        Err(_) if gzip_is_damaged(compressed, limit) => Err(StructureError::CorruptGzip(
            "the stream does not decompress to its end".into(),
        )),
        Err(e) if e.is_data() => Err(StructureError::NotAnArray {
            found: describe_from_message(&e.to_string()),
        }),
        Err(e) => Err(not_json_streamed(&e)),
    }
}

fn gzip_is_damaged(compressed: &[u8], limit: u64) -> bool {
    let mut decoder = GzDecoder::new(compressed).take(limit);
    std::io::copy(&mut decoder, &mut std::io::sink()).is_err()
}

#[derive(Clone, Copy)]
enum ReadState {
    Ok,
    Corrupt,
    TooLarge,
}

/// Counts decompressed bytes and remembers why reading stopped.
struct GuardedReader<R> {
    inner: R,
    remaining: u64,
    limit: u64,
    state: Rc<Cell<ReadState>>,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| {
            self.state.set(ReadState::Corrupt);
        })?;
        if n as u64 > self.remaining {
            self.state.set(ReadState::TooLarge);
            return Err(std::io::Error::other(format!(
                "more than {} bytes after decompression",
                self.limit
            )));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn not_json_streamed(e: &serde_json::Error) -> StructureError {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    // The reader does not keep the text, so the offset is only known on the first line.
    StructureError::NotJson {
        message,
        line: e.line(),
        column: e.column(),
        offset: if e.line() == 1 {
            e.column().saturating_sub(1)
        } else {
            0
        },
    }
}

/// serde's "invalid type: map, expected a JSON array" names what it found.
fn describe_from_message(message: &str) -> &'static str {
    let found = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    match found {
        "map" => "an object",
        "string" => "a string",
        "boolean" => "a boolean",
        "null" | "unit value" => "null",
        _ => "a number",
    }
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

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_input_is_counted_while_decompressing() {
        assert_eq!(
            check_gzip_structure(&gz(b"\xEF\xBB\xBF[1, {}, []]"), 1 << 20),
            Ok(3)
        );
        assert_eq!(
            check_gzip_structure(&gz(b"{\"a\": 1}"), 1 << 20),
            Err(StructureError::NotAnArray { found: "an object" })
        );
        assert!(matches!(
            check_gzip_structure(&gz(b"[1,,2]"), 1 << 20),
            Err(StructureError::NotJson {
                line: 1,
                column: 4,
                offset: 3,
                ..
            })
        ));
        let mut corrupt = gz(b"[1, 2, 3]");
        let n = corrupt.len();
        corrupt[n / 2] ^= 0xff;
        corrupt.truncate(n - 4);
        let got = check_gzip_structure(&corrupt, 1 << 20);
        assert!(
            matches!(got, Err(StructureError::CorruptGzip(_))),
            "{got:?}"
        );
    }

    #[test]
    fn gzip_bombs_stop_at_the_limit() {
        // Valid JSON all the way: only the limit can stop it.
        let mut bomb = vec![b'['];
        bomb.extend(std::iter::repeat_n(b' ', 4 << 20));
        bomb.push(b']');
        assert_eq!(
            check_gzip_structure(&gz(&bomb), 1 << 20),
            Err(StructureError::TooLarge { limit: 1 << 20 })
        );
        assert_eq!(check_gzip_structure(&gz(&bomb), 8 << 20), Ok(0));
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
