//! Walks a top-level JSON array element by element from any reader, holding at most one
//! element (and never more than the record size limit of it) in memory, so a file of any
//! size is read in flat memory.
//!
//! With a [`QuickCheck`], elements that lie whole in the reader's buffer are split and
//! checked by the same parse, so most of a file is read once rather than twice.

use std::collections::VecDeque;
use std::io::BufRead;

use shared::ocsf::ValidRecord;

/// Reads the element at the start of text that may go on past it: its length and the
/// result of checking it, or `None` to have the element split the usual way (and checked
/// later). See [`shared::ocsf::validate_fast_prefix`].
pub type QuickCheck = fn(&str) -> Option<(usize, ValidRecord)>;

/// At most this much of the buffer is taken by one run of quick checks (see
/// [`ArrayScanner::quick_run`]), so that a reader holding a whole file in memory is
/// still checked in pieces.
const QUICK_RUN_BYTES: usize = 256 * 1024;

const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

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
    /// Elements already read by a quick run, in order.
    checked: VecDeque<RawRecord>,
    /// Where quick runs may start again after one stopped at an element it could not
    /// take: the end of the text that run looked at, which is not looked at twice.
    quick_from: u64,
    /// The end of the last element returned from `checked`.
    checked_end: u64,
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
            checked: VecDeque::new(),
            quick_from: 0,
            checked_end: 0,
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
            checked: VecDeque::new(),
            quick_from: 0,
            checked_end: 0,
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
        if self.checked.is_empty() {
            self.offset
        } else {
            self.checked_end
        }
    }

    fn pop_checked(&mut self) -> Option<RawRecord> {
        let record = self.checked.pop_front()?;
        self.checked_end = record.end;
        Some(record)
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
        if let Some(record) = self.pop_checked() {
            return Ok(Some(record));
        }
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
                        self.quick_run();
                        if let Some(record) = self.pop_checked() {
                            return Ok(Some(record));
                        }
                        let record = self.element()?;
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

    /// At an element's first byte: reads as many elements as the [`QuickCheck`] takes,
    /// one after the other, from the buffered bytes (at most [`QUICK_RUN_BYTES`]), with
    /// the separators between them, into `checked`. The text is checked to be UTF-8 once
    /// for the whole run, so that serde_json does not check each string again. The run
    /// stops at the first element the check does not take (one that is declined, that is
    /// not an object, or that goes on past the buffered text), which is then split the
    /// usual way, as is the rest of the text this run looked at: no byte is checked for
    /// UTF-8 twice, whatever the file holds.
    fn quick_run(&mut self) {
        let Some(check) = self.quick else {
            return;
        };
        if self.offset < self.quick_from {
            return;
        }
        let Ok(buf) = self.reader.fill_buf() else {
            return;
        };
        let buf = &buf[..buf.len().min(QUICK_RUN_BYTES)];
        let text = match std::str::from_utf8(buf) {
            Ok(text) => text,
            // A character cut at the end of the buffer, or bytes that are not UTF-8 (the
            // element holding them is left to the full path, which reports them).
            Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
        };
        self.quick_from = self.offset + text.len() as u64;
        // `taken`: the end of the last element read; `start`: where the next one begins.
        let mut taken = 0;
        let mut start = 0;
        loop {
            let rest = &text[start..];
            let Some((len, valid)) = check(rest).filter(|(len, _)| *len <= self.max_record) else {
                break;
            };
            let offset = self.offset + start as u64;
            self.checked.push_back(RawRecord {
                index: self.index + self.checked.len() as u64,
                offset,
                bytes: if self.keep_checked {
                    rest.as_bytes()[..len].to_vec()
                } else {
                    Vec::new()
                },
                len: len as u64,
                oversized: None,
                end: offset + len as u64,
                valid: Some(valid),
            });
            taken = start + len;
            // Go on through `,` to the next object; anything else is for the state machine.
            let after = text[taken..].trim_start_matches(JSON_WHITESPACE);
            let Some(next) = after.strip_prefix(',') else {
                break;
            };
            let next = next.trim_start_matches(JSON_WHITESPACE);
            if !next.starts_with('{') {
                break;
            }
            start = text.len() - next.len();
        }
        if !self.checked.is_empty() {
            self.index += self.checked.len() as u64;
            self.consume(taken);
            self.state = State::AfterElement;
        }
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
        let mut input = format!(
            "[{} ,\n{},{{\"class_uid\": 2004}}, 42,\t{}\n,{},",
            valid("a"),
            valid("b"),
            valid("c"),
            valid("é"),
        )
        .into_bytes();
        // Bytes that are not UTF-8 inside a record: that record is left to the full path.
        input.extend_from_slice(b"{\"s\": \"\xff\"} ,");
        input.extend_from_slice(format!("{}]\n", valid("d")).as_bytes());
        let input = &input[..];
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
        // After an element the check declines, the rest of the text its run had checked
        // for UTF-8 is split the usual way (no byte is checked twice); text past what that
        // run could check (here: from the bytes that are not UTF-8) is checked again.
        assert_eq!(
            checked,
            [
                Some("a"),
                Some("b"),
                None,
                None,
                None,
                None,
                None,
                Some("d")
            ]
        );
        // A scan stopped after any element resumes from `offset()` with the same elements.
        for k in 1..split.len() {
            let mut scanner = ArrayScanner::new(input, 1 << 20)
                .with_quick_check(shared::ocsf::validate_fast_prefix, true);
            for _ in 0..k {
                scanner.next_record().unwrap().unwrap();
            }
            let at = scanner.offset();
            let mut rest = ArrayScanner::resume(&input[at as usize..], 1 << 20, k as u64, at)
                .with_quick_check(shared::ocsf::validate_fast_prefix, true);
            for expected in &split[k..] {
                let got = rest.next_record().unwrap().unwrap();
                assert_eq!(
                    (got.index, got.offset, &got.bytes),
                    (expected.index, expected.offset, &expected.bytes)
                );
            }
            assert_eq!(rest.next_record().unwrap(), None, "resumed after {k}");
        }
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
