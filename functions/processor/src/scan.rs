//! Walks a top-level JSON array element by element from any reader, holding at most one
//! element (and never more than the record size limit of it) in memory, so a file of any
//! size is read in flat memory.
//!
//! With a [`QuickCheck`], an element that lies whole in the reader's buffer is split and
//! checked by the same parse, so most of a file is read once rather than twice.

use std::io::BufRead;

use shared::ocsf::ValidRecord;

/// Reads the element at the start of a buffer that may go on past it: its length and the
/// result of checking it, or `None` to have the element split the usual way (and checked
/// later). See [`shared::ocsf::validate_fast_prefix`].
pub type QuickCheck = fn(&[u8]) -> Option<(usize, ValidRecord)>;

/// One element of the array.
#[derive(Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// 0-based position in the array.
    pub index: u64,
    /// Byte offset of the element's first byte in the (decompressed) file.
    pub offset: u64,
    /// The element's bytes, unless it is larger than the limit, or it was checked as it
    /// was split and its bytes were not asked for (see [`ArrayScanner::with_quick_check`]).
    pub bytes: Vec<u8>,
    /// The element's size in bytes.
    pub len: u64,
    /// The element's full size when it was over the limit (and `bytes` is empty).
    pub oversized: Option<u64>,
    /// Byte offset just after the element (where a resumed scan starts).
    pub end: u64,
    /// What the [`QuickCheck`] made of the element, if it read it.
    pub valid: Option<ValidRecord>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the file must be a JSON array of OCSF Detection Finding objects, but it starts with {found:?} at byte offset {offset}")]
    NotAnArray { found: char, offset: u64 },
    #[error("the file is not valid JSON: {message} at byte offset {offset}")]
    Malformed { message: &'static str, offset: u64 },
    #[error("the file could not be read: {0}")]
    Read(String),
}

/// Bytes that matter inside an object or array, outside strings: `"`, `{`, `}`, `[`, `]`.
const INSIDE_CONTAINER: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
};

enum State {
    /// Before the opening bracket (a UTF-8 BOM is allowed first).
    Start,
    /// After `[` or `,`: whitespace, then an element (or `]` right after `[`).
    BeforeElement { first: bool },
    /// After an element: whitespace, then `,` or `]`.
    AfterElement,
    /// After the closing bracket: only whitespace may follow.
    Done,
}

pub struct ArrayScanner<R> {
    reader: R,
    offset: u64,
    index: u64,
    max_record: usize,
    state: State,
    quick: Option<QuickCheck>,
    keep_checked: bool,
}

impl<R: BufRead> ArrayScanner<R> {
    pub fn new(reader: R, max_record: usize) -> Self {
        Self {
            reader,
            offset: 0,
            index: 0,
            max_record,
            state: State::Start,
            quick: None,
            keep_checked: true,
        }
    }

    /// Continues an array whose elements before `index` were read already: `reader`
    /// starts at byte `offset` of the file, just after element `index - 1`.
    pub fn resume(reader: R, max_record: usize, index: u64, offset: u64) -> Self {
        Self {
            reader,
            offset,
            index,
            max_record,
            state: State::AfterElement,
            quick: None,
            keep_checked: true,
        }
    }

    /// Tries `check` on each element first (see [`QuickCheck`]). The bytes of an element
    /// it accepts are copied out only if `keep_bytes`; others' always are.
    pub fn with_quick_check(mut self, check: QuickCheck, keep_bytes: bool) -> Self {
        self.quick = Some(check);
        self.keep_checked = keep_bytes;
        self
    }

    /// The byte offset just after the last element returned (where a later run resumes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self) -> Result<&[u8], ScanError> {
        self.reader
            .fill_buf()
            .map_err(|e| ScanError::Read(e.to_string()))
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset += n as u64;
    }

    /// Skips whitespace and returns the next significant byte without consuming it.
    fn peek_significant(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                Some(i) => {
                    let byte = buf[i];
                    self.consume(i);
                    return Ok(Some(byte));
                }
                None => {
                    let n = buf.len();
                    self.consume(n);
                }
            }
        }
    }

    /// The next element, `Ok(None)` at the end of a well-formed array.
    pub fn next_record(&mut self) -> Result<Option<RawRecord>, ScanError> {
        loop {
            match self.state {
                State::Start => {
                    let buf = self.fill()?;
                    if buf.starts_with(b"\xEF\xBB\xBF") {
                        self.consume(3);
                    }
                    match self.peek_significant()? {
                        Some(b'[') => {
                            self.consume(1);
                            self.state = State::BeforeElement { first: true };
                        }
                        Some(other) => {
                            return Err(ScanError::NotAnArray {
                                found: other as char,
                                offset: self.offset,
                            })
                        }
                        None => return Err(self.malformed("the file is empty")),
                    }
                }
                State::BeforeElement { first } => match self.peek_significant()? {
                    Some(b']') if first => {
                        self.consume(1);
                        self.state = State::Done;
                    }
                    Some(b']') => return Err(self.malformed("trailing comma")),
                    Some(b',') => return Err(self.malformed("expected a value")),
                    Some(_) => {
                        let record = match self.quick_element() {
                            Some(record) => record,
                            None => self.element()?,
                        };
                        self.state = State::AfterElement;
                        return Ok(Some(record));
                    }
                    None => return Err(self.malformed("EOF while parsing a list")),
                },
                State::AfterElement => match self.peek_significant()? {
                    Some(b',') => {
                        self.consume(1);
                        self.state = State::BeforeElement { first: false };
                    }
                    Some(b']') => {
                        self.consume(1);
                        self.state = State::Done;
                    }
                    Some(_) => return Err(self.malformed("expected `,` or `]`")),
                    None => return Err(self.malformed("EOF while parsing a list")),
                },
                State::Done => {
                    return match self.peek_significant()? {
                        None => Ok(None),
                        Some(_) => Err(self.malformed("trailing characters")),
                    };
                }
            }
        }
    }

    fn malformed(&self, message: &'static str) -> ScanError {
        ScanError::Malformed {
            message,
            offset: self.offset,
        }
    }

    /// The element at the reader's position if the [`QuickCheck`] reads it whole from the
    /// buffered bytes. Nothing is consumed otherwise.
    fn quick_element(&mut self) -> Option<RawRecord> {
        let check = self.quick?;
        let buf = self.reader.fill_buf().ok()?;
        let (len, valid) = check(&buf[..buf.len().min(self.max_record)])?;
        let bytes = if self.keep_checked {
            buf[..len].to_vec()
        } else {
            Vec::new()
        };
        let offset = self.offset;
        self.consume(len);
        let record = RawRecord {
            index: self.index,
            offset,
            bytes,
            len: len as u64,
            oversized: None,
            end: self.offset,
            valid: Some(valid),
        };
        self.index += 1;
        Some(record)
    }

    /// Reads one element: up to the `,` or `]` that closes it at nesting depth 0.
    /// Whitespace after the element's last byte is neither kept nor counted.
    fn element(&mut self) -> Result<RawRecord, ScanError> {
        let offset = self.offset;
        let max = self.max_record as u64;
        let mut bytes = Vec::new();
        let mut size: u64 = 0;
        let mut depth: u32 = 0;
        let mut in_string = false;
        let mut escaped = false;
        // The element's last byte has been seen; only whitespace may come before `,`/`]`.
        let mut ended = false;
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Err(self.malformed("EOF while parsing a value"));
            }
            let mut content = 0;
            let mut stop = None;
            let mut bad = None;
            let mut i = 0;
            while i < buf.len() {
                if in_string {
                    // Most of a record is string content: jump to the next quote or
                    // backslash instead of looking at every byte.
                    if escaped {
                        escaped = false;
                        i += 1;
                    } else {
                        match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                            None => i = buf.len(),
                            Some(j) => {
                                if buf[i + j] == b'\\' {
                                    escaped = true;
                                } else {
                                    in_string = false;
                                }
                                i += j + 1;
                            }
                        }
                    }
                    content = i;
                    continue;
                }
                if depth > 0 && !ended {
                    // Inside a container, only quotes and brackets matter.
                    let rest = &buf[i..];
                    let skip = rest
                        .iter()
                        .position(|&b| INSIDE_CONTAINER[b as usize])
                        .unwrap_or(rest.len());
                    if skip > 0 {
                        i += skip;
                        content = i;
                        continue;
                    }
                }
                let b = buf[i];
                let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
                if ended {
                    match b {
                        _ if space => {
                            i += 1;
                            continue;
                        }
                        b',' | b']' => stop = Some(i),
                        _ => bad = Some((i, "expected `,` or `]`")),
                    }
                    break;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            content = i;
                            ended = true;
                            continue;
                        }
                    }
                    b',' | b']' if depth == 0 => {
                        stop = Some(i);
                        break;
                    }
                    b'}' => {
                        bad = Some((i, "unbalanced `}`"));
                        break;
                    }
                    _ if space && depth == 0 => {
                        i += 1;
                        ended = true;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
                content = i;
            }
            if let Some((at, message)) = bad {
                self.consume(at);
                return Err(self.malformed(message));
            }
            let keep = content.min(stop.unwrap_or(buf.len()));
            size += keep as u64;
            if size <= max {
                bytes.extend_from_slice(&buf[..keep]);
            } else if !bytes.is_empty() {
                bytes = Vec::new();
            }
            let consumed = stop.unwrap_or(buf.len());
            self.consume(consumed);
            if stop.is_some() {
                break;
            }
        }
        let record = RawRecord {
            index: self.index,
            offset,
            oversized: (size > max).then_some(size),
            bytes,
            len: size,
            end: self.offset,
            valid: None,
        };
        self.index += 1;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Result<Vec<RawRecord>, ScanError> {
        // A tiny buffer makes every boundary fall inside a read.
        let mut scanner = ArrayScanner::new(std::io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(r) = scanner.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    fn texts(records: &[RawRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.bytes.clone()).unwrap())
            .collect()
    }

    #[test]
    fn splits_elements_of_any_kind() {
        let input = br#"  [ {"a": "x,]}", "b": [1, {"c": "\"]"}]} , 42,"s" ,[1,2] , null ]  "#;
        let records = all(input, 1 << 20).unwrap();
        assert_eq!(
            texts(&records),
            [
                r#"{"a": "x,]}", "b": [1, {"c": "\"]"}]}"#,
                "42",
                r#""s""#,
                "[1,2]",
                "null"
            ]
        );
        assert_eq!(records[0].offset, 4);
        assert_eq!(records[4].index, 4);
        assert_eq!(all(b"[]", 10).unwrap(), vec![]);
        assert_eq!(all(b"\xEF\xBB\xBF[ ]\n", 10).unwrap(), vec![]);
    }

    #[test]
    fn whitespace_after_an_element_does_not_count_towards_its_size() {
        let mut input = br#"[{"a":1}"#.to_vec();
        input.extend(std::iter::repeat_n(b' ', 1000));
        input.extend_from_slice(b", 7\n\n ]");
        let records = all(&input, 10).unwrap();
        assert_eq!(texts(&records), [r#"{"a":1}"#, "7"]);
        assert_eq!(records[0].oversized, None);
        assert_eq!(
            all(br#"[{"a":1} {"b":2}]"#, 100),
            Err(ScanError::Malformed {
                message: "expected `,` or `]`",
                offset: 9
            })
        );
    }

    #[test]
    fn a_resumed_scan_continues_after_the_checkpoint() {
        let input = br#"[{"a":1}, {"b":2} ,{"c":3}]"#;
        let mut first = ArrayScanner::new(&input[..], 100);
        first.next_record().unwrap().unwrap();
        first.next_record().unwrap().unwrap();
        let offset = first.offset();
        assert_eq!(offset, 18, "at the comma after the second element");
        let mut rest = ArrayScanner::resume(&input[offset as usize..], 100, 2, offset);
        let third = rest.next_record().unwrap().unwrap();
        assert_eq!(
            (third.index, third.offset, third.bytes),
            (2, 19, br#"{"c":3}"#.to_vec())
        );
        assert_eq!(rest.next_record().unwrap(), None);
    }

    #[test]
    fn oversized_elements_are_measured_not_kept() {
        let input = br#"[{"a":"0123456789"}, {"b":1}]"#;
        let records = all(input, 10).unwrap();
        assert_eq!(records[0].oversized, Some(18));
        assert!(records[0].bytes.is_empty());
        assert_eq!(texts(&records[1..]), [r#"{"b":1}"#]);
    }

    #[test]
    fn structural_errors_carry_their_offset() {
        assert_eq!(
            all(br#"{"a": 1}"#, 10),
            Err(ScanError::NotAnArray {
                found: '{',
                offset: 0
            })
        );
        assert_eq!(
            all(b"[1, 2", 10),
            Err(ScanError::Malformed {
                message: "EOF while parsing a value",
                offset: 5
            })
        );
        assert_eq!(
            all(b"[1, 2,]", 10),
            Err(ScanError::Malformed {
                message: "trailing comma",
                offset: 6
            })
        );
        assert_eq!(
            all(b"[1] x", 10),
            Err(ScanError::Malformed {
                message: "trailing characters",
                offset: 4
            })
        );
        assert_eq!(
            all(b"[{\"a\": 1}}]", 10),
            Err(ScanError::Malformed {
                message: "expected `,` or `]`",
                offset: 9
            })
        );
        assert_eq!(
            all(b"[1}]", 10),
            Err(ScanError::Malformed {
                message: "unbalanced `}`",
                offset: 2
            })
        );
        assert_eq!(
            all(b"", 10),
            Err(ScanError::Malformed {
                message: "the file is empty",
                offset: 0
            })
        );
    }

    #[test]
    fn quick_checked_elements_are_cut_exactly_as_split_ones() {
        let valid = |uid: &str| {
            format!(
                r#"{{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200401,"severity_id":3,"time":1,
                    "metadata":{{"product":{{}},"version":"1.4.0"}},"finding_info":{{"uid":"{uid}","title":"t \"]}}"}}}}"#
            )
        };
        let input = format!(
            "[{} ,\n{},{{\"class_uid\": 2004}}, 42,\t{}\n]\n",
            valid("a"),
            valid("b"),
            valid("c")
        );
        let input = input.as_bytes();
        let split = all(input, 1 << 20).unwrap();
        assert!(split.iter().all(|r| r.valid.is_none()));
        let quick = |capacity: usize, keep: bool| {
            let reader = std::io::BufReader::with_capacity(capacity, input);
            let mut scanner = ArrayScanner::new(reader, 1 << 20)
                .with_quick_check(shared::ocsf::validate_fast_prefix, keep);
            let mut out = Vec::new();
            while let Some(r) = scanner.next_record().unwrap() {
                out.push(r);
            }
            out
        };
        // With the whole file buffered, every valid record is checked as it is cut.
        let whole = quick(input.len(), true);
        let checked: Vec<_> = whole
            .iter()
            .map(|r| r.valid.as_ref().map(|v| v.uid.as_str()))
            .collect();
        assert_eq!(checked, [Some("a"), Some("b"), None, None, Some("c")]);
        // At any buffer size, records straddling a refill are split the usual way instead.
        for capacity in (3..=input.len()).step_by(7) {
            for keep in [true, false] {
                let got = quick(capacity, keep);
                assert_eq!(got.len(), split.len());
                for (q, s) in got.iter().zip(&split) {
                    assert_eq!((q.index, q.offset, q.len), (s.index, s.offset, s.len));
                    assert_eq!(s.len, s.bytes.len() as u64);
                    match &q.valid {
                        None => assert_eq!(q.bytes, s.bytes),
                        Some(valid) => {
                            let expected = shared::ocsf::validate_fast(&s.bytes);
                            assert_eq!(Some(valid), expected.as_ref());
                            assert_eq!(q.bytes, if keep { &s.bytes[..] } else { b"" });
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_read_boundary_gives_the_same_records_as_a_full_parse() {
        let input = concat!(
            "\u{feff}[\n  {\"a\": \"x\\\\\", \"b\": \"\\\"]}\\\"\", \"c\": [[], {}, [1, {\"d\": \"{[\"}]]},\n",
            "  {\"e\": \"\\\\\\\\\", \"f\": \"é ✓ \\u00e9\", \"g\": {\"h\": {\"i\": [true, false, null, -1.5e3]}}} ,",
            "\"top \\\" string\",  12.5e-1 ,null,[ ],{ }\t\r\n]  "
        )
        .as_bytes();
        let without_bom = &input[3..];
        let expected: Vec<serde_json::Value> = serde_json::from_slice(without_bom).unwrap();
        let reference = all(input, 1 << 20).unwrap();
        assert_eq!(reference.len(), expected.len());
        for (record, value) in reference.iter().zip(&expected) {
            let parsed: serde_json::Value = serde_json::from_slice(&record.bytes).unwrap();
            assert_eq!(&parsed, value);
            let at = record.offset as usize;
            assert_eq!(&input[at..at + record.bytes.len()], &record.bytes[..]);
        }
        // From 3 bytes: the BOM is recognised within the first read.
        for capacity in 3..=48 {
            let mut scanner =
                ArrayScanner::new(std::io::BufReader::with_capacity(capacity, input), 1 << 20);
            let mut got = Vec::new();
            while let Some(r) = scanner.next_record().unwrap() {
                got.push(r);
            }
            assert_eq!(got, reference, "buffer of {capacity} bytes");
        }
    }
}
