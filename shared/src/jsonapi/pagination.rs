//! Page-number pagination as Django REST framework JSON:API renders it (the API Prowler
//! serves): `meta.pagination = {page, pages, count}` and `links = {first, last, next,
//! prev}`, where each link is the request's own query with `page[number]` replaced, the
//! parameters sorted by name and form-encoded (`page%5Bnumber%5D=2`).

use serde_json::{json, Value};

/// Page size when the request names none.
pub const DEFAULT_PAGE_SIZE: u64 = 10;
/// Largest page size a request may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which page a request wants (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: u64,
    pub size: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            number: 1,
            size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageRequest {
    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// Pages needed for `count` items; an empty result still has one (empty) page.
    pub fn pages(&self, count: u64) -> u64 {
        count.div_ceil(self.size).max(1)
    }

    /// Whether this page exists for `count` items.
    pub fn exists(&self, count: u64) -> bool {
        self.number <= self.pages(count)
    }
}

/// `{"data": [...], "meta": {"version", "pagination"}, "links": {...}}` for one page.
/// `path` is the request path; `query` its parameters as received (decoded).
pub fn paginated_document(
    data: Vec<Value>,
    page: PageRequest,
    count: u64,
    path: &str,
    query: &[(String, String)],
) -> Value {
    let pages = page.pages(count);
    let link = |number: u64| Value::String(page_link(path, query, number));
    let next = if page.number < pages {
        link(page.number + 1)
    } else {
        Value::Null
    };
    let prev = if page.number > 1 {
        link(page.number - 1)
    } else {
        Value::Null
    };
    json!({
        "data": data,
        "meta": {
            "version": "v1",
            "pagination": {"page": page.number, "pages": pages, "count": count},
        },
        "links": {"first": link(1), "last": link(pages), "next": next, "prev": prev},
    })
}

/// The request's path and query with `page[number]` set to `number`.
pub fn page_link(path: &str, query: &[(String, String)], number: u64) -> String {
    let mut params: Vec<(&str, String)> = query
        .iter()
        .filter(|(k, _)| k != "page[number]")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    params.push(("page[number]", number.to_string()));
    // A stable sort keeps repeated parameters in their original order, as Python's does.
    params.sort_by(|a, b| a.0.cmp(b.0));
    let encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect();
    format!("{path}?{}", encoded.join("&"))
}

/// `application/x-www-form-urlencoded` as Python's `quote_plus` writes it.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pages_and_offsets() {
        let p = PageRequest {
            number: 3,
            size: 10,
        };
        assert_eq!(p.offset(), 20);
        assert_eq!(p.pages(0), 1);
        assert_eq!(p.pages(10), 1);
        assert_eq!(p.pages(11), 2);
        assert!(p.exists(21));
        assert!(!p.exists(20));
        assert!(PageRequest::default().exists(0), "page 1 of nothing exists");
    }

    #[test]
    fn links_replace_the_page_number_sort_and_encode_like_django() {
        let query = q(&[
            ("sort", "-completed_at,inserted_at"),
            ("page[size]", "5"),
            ("filter[search]", "a b/c"),
            ("page[number]", "2"),
        ]);
        assert_eq!(
            page_link("/api/v1/ingestions", &query, 3),
            "/api/v1/ingestions?filter%5Bsearch%5D=a+b%2Fc&page%5Bnumber%5D=3\
             &page%5Bsize%5D=5&sort=-completed_at%2Cinserted_at"
        );
        assert_eq!(
            page_link("/api/v1/findings", &[], 1),
            "/api/v1/findings?page%5Bnumber%5D=1"
        );
    }

    #[test]
    fn the_document_carries_pagination_and_null_links_at_the_edges() {
        let page = PageRequest { number: 1, size: 2 };
        let doc = paginated_document(vec![json!(1), json!(2)], page, 5, "/x", &[]);
        assert_eq!(
            doc,
            json!({
                "data": [1, 2],
                "meta": {"version": "v1", "pagination": {"page": 1, "pages": 3, "count": 5}},
                "links": {"first": "/x?page%5Bnumber%5D=1", "last": "/x?page%5Bnumber%5D=3",
                          "next": "/x?page%5Bnumber%5D=2", "prev": null},
            })
        );
        let last = paginated_document(
            vec![json!(5)],
            PageRequest { number: 3, size: 2 },
            5,
            "/x",
            &[],
        );
        assert_eq!(last["links"]["next"], Value::Null);
        assert_eq!(last["links"]["prev"], "/x?page%5Bnumber%5D=2");
        let empty = paginated_document(vec![], PageRequest::default(), 0, "/x", &[]);
        assert_eq!(
            empty["meta"]["pagination"],
            json!({"page": 1, "pages": 1, "count": 0})
        );
        assert_eq!(empty["links"]["last"], "/x?page%5Bnumber%5D=1");
        assert_eq!(empty["links"]["next"], Value::Null);
    }
}
