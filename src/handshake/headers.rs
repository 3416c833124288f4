//! Header lines of an already-validated head, and comma-separated list values
//! (RFC 7230 §3.2, §7), without allocating.

/// One header line of an already-validated head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, as sent (compare it ASCII case-insensitively).
    pub name: &'b str,
    /// The field value, without the optional whitespace around it.
    pub value: &'b [u8],
}

/// Iterates over the header lines of a head that `httparse` already accepted: skips the
/// start line (and any empty lines before it), handles CRLF and bare LF line ends, trims
/// optional whitespace around values, and stops at the blank line. Zero allocation.
///
/// On bytes that `httparse` did not accept it never panics, but it may yield odd headers;
/// lines without a colon or with a non-UTF-8 name are skipped.
#[derive(Clone, Debug)]
pub struct Headers<'b> {
    rest: &'b [u8],
}

impl<'b> Headers<'b> {
    /// Header lines of `head` (start line, headers, blank line).
    pub fn new(head: &'b [u8]) -> Self {
        let mut rest = head;
        // httparse skips empty lines before the start line (RFC 7230 §3.5); so do we.
        while let Some(after) = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
        {
            rest = after;
        }
        // Skip the start line.
        let rest = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => &rest[lf + 1..],
            None => &[],
        };
        Headers { rest }
    }

    /// First value of the header named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.clone()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// How many header lines are named `name` (ASCII case-insensitive).
    pub fn occurrences(&self, name: &str) -> usize {
        self.clone()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// Every comma-separated element of every header named `name`, trimmed, empty elements
    /// skipped, in order (RFC 7230 §7). Commas inside double-quoted strings (extension
    /// parameters, RFC 6455 §9.1) do not split.
    pub fn list<'n>(&self, name: &'n str) -> ListItems<'b, 'n> {
        ListItems {
            headers: self.clone(),
            name,
            current: &[],
        }
    }
}

impl<'b> Iterator for Headers<'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (line, rest) = match self.rest.iter().position(|&b| b == b'\n') {
                Some(lf) => (&self.rest[..lf], &self.rest[lf + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                // The blank line: the end of the head.
                self.rest = &[];
                return None;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = core::str::from_utf8(&line[..colon]) else {
                continue;
            };
            return Some(Header {
                name,
                value: trim_ows(&line[colon + 1..]),
            });
        }
    }
}

/// The elements of a comma-separated header list; see [`Headers::list`].
#[derive(Clone, Debug)]
pub struct ListItems<'b, 'n> {
    headers: Headers<'b>,
    name: &'n str,
    current: &'b [u8],
}

impl<'b> Iterator for ListItems<'b, '_> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        loop {
            if self.current.is_empty() {
                let name = self.name;
                self.current = self
                    .headers
                    .find(|h| h.name.eq_ignore_ascii_case(name))?
                    .value;
            }
            let end = element_end(self.current);
            let element = trim_ows(&self.current[..end]);
            self.current = self.current.get(end + 1..).unwrap_or(&[]);
            if !element.is_empty() {
                return Some(element);
            }
        }
    }
}

/// Index of the comma ending the first element of `list` (or its length), not counting
/// commas inside quoted strings (RFC 7230 §3.2.6, with backslash escapes).
fn element_end(list: &[u8]) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in list.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match b {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => quoted = true,
                b',' => return i,
                _ => {}
            }
        }
    }
    list.len()
}

/// `value` without the optional whitespace (SP, HTAB) around it (RFC 7230 §3.2.3).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// Whether the comma-separated header list elements `values` (as yielded by
/// [`Headers::list`]) contain `token`, compared ASCII case-insensitively. Used for the
/// `Upgrade: websocket` and `Connection: Upgrade` rules (RFC 6455 §4.1, §4.2.1).
pub fn list_contains<'v>(mut values: impl Iterator<Item = &'v [u8]>, token: &str) -> bool {
    values.any(|v| v.eq_ignore_ascii_case(token.as_bytes()))
}

/// The extension name of one `Sec-WebSocket-Extensions` element: the token before the first
/// `;`, trimmed (RFC 6455 §9.1).
pub(crate) fn extension_name(extension: &[u8]) -> &[u8] {
    let end = extension
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(extension.len());
    trim_ows(&extension[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const HEAD: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade:websocket\r\n\
        Connection: keep-alive,  Upgrade \t\r\n\
        X-Empty:\r\n\
        Sec-WebSocket-Protocol: chat, , superchat\r\n\
        sec-websocket-protocol: third\r\n\
        \r\n";

    #[test]
    fn headers_iterate_in_order_with_trimmed_values() {
        let all: Vec<_> = Headers::new(HEAD).collect();
        assert_eq!(all.len(), 6);
        assert_eq!(
            all[0],
            Header {
                name: "Host",
                value: b"server.example.com"
            }
        );
        assert_eq!(all[1].value, b"websocket");
        assert_eq!(all[2].value, b"keep-alive,  Upgrade");
        assert_eq!(all[3].value, b"");
    }

    #[test]
    fn headers_handle_bare_lf_and_leading_empty_lines() {
        let head = b"\r\n\nGET / HTTP/1.1\nHost: a\nX: b\n\n";
        let all: Vec<_> = Headers::new(head).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name, "X");
        assert_eq!(all[1].value, b"b");
    }

    #[test]
    fn headers_stop_at_blank_line() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nA: 1\r\n\r\nB: 2\r\n\r\n";
        assert_eq!(Headers::new(head).count(), 1);
    }

    #[test]
    fn get_is_case_insensitive_and_returns_first() {
        let headers = Headers::new(HEAD);
        assert_eq!(headers.get("HOST"), Some(&b"server.example.com"[..]));
        assert_eq!(
            headers.get("sec-websocket-protocol"),
            Some(&b"chat, , superchat"[..])
        );
        assert_eq!(headers.get("Origin"), None);
        assert_eq!(headers.occurrences("Sec-WebSocket-Protocol"), 2);
    }

    #[test]
    fn list_spans_all_lines_and_skips_empty_elements() {
        let items: Vec<_> = Headers::new(HEAD).list("Sec-WebSocket-Protocol").collect();
        assert_eq!(items, [&b"chat"[..], b"superchat", b"third"]);
        assert!(Headers::new(HEAD).list("Origin").next().is_none());
    }

    #[test]
    fn list_does_not_split_inside_quoted_strings() {
        let head = b"GET / HTTP/1.1\r\nX: a; p=\"1,\\\"2\", b\r\n\r\n";
        let items: Vec<_> = Headers::new(head).list("x").collect();
        assert_eq!(items, [&b"a; p=\"1,\\\"2\""[..], b"b"]);
    }

    #[test]
    fn list_contains_is_case_insensitive_on_whole_tokens() {
        let headers = Headers::new(HEAD);
        assert!(list_contains(headers.list("Connection"), "upgrade"));
        assert!(list_contains(headers.list("Connection"), "KEEP-ALIVE"));
        assert!(!list_contains(headers.list("Connection"), "upgra"));
        assert!(!list_contains(headers.list("Missing"), "upgrade"));
    }

    #[test]
    fn extension_names() {
        assert_eq!(
            extension_name(b"permessage-deflate; client_max_window_bits"),
            b"permessage-deflate"
        );
        assert_eq!(extension_name(b" foo "), b"foo");
    }
}
