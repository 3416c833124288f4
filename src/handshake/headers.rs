//! Header lines of an already-validated head, and comma-separated list values
//! (RFC 7230 §3.2, §7), without allocating.

use crate::token::trim_ows;

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
    // Most lists have no quoted strings: up to the first quote, the first comma ends it.
    let Some(first) = list.iter().position(|&b| b == b',' || b == b'"') else {
        return list.len();
    };
    if list[first] == b',' {
        return first;
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in list.iter().enumerate().skip(first) {
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

/// Whether the comma-separated list `value` (one header line) has an element equal to
/// `token`, ASCII case-insensitively: what [`list_contains`] over [`Headers::list`] answers,
/// one line at a time.
pub(crate) fn value_has_token(value: &[u8], token: &[u8]) -> bool {
    let mut rest = value;
    loop {
        let end = element_end(rest);
        if trim_ows(&rest[..end]).eq_ignore_ascii_case(token) {
            return true;
        }
        match rest.get(end + 1..) {
            Some(after) => rest = after,
            None => return false,
        }
    }
}

/// The header fields the opening handshake looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    Host,
    Origin,
    Upgrade,
    Connection,
    Key,
    Accept,
    Version,
    Protocol,
    Extensions,
}

/// Which handshake field `name` is, if any. `name` must be a token, as `httparse` guarantees
/// for the names it parsed: then `b | 0x20` equals a lowercase letter only for that letter in
/// either case, and equals `-` only for `-` (CR, the other byte that would, is no token
/// character), so this is an exact ASCII case-insensitive comparison.
pub(crate) fn classify(name: &[u8]) -> Option<Known> {
    let (known, lower): (Known, &[u8]) = match name.len() {
        4 => (Known::Host, b"host"),
        6 => (Known::Origin, b"origin"),
        7 => (Known::Upgrade, b"upgrade"),
        10 => (Known::Connection, b"connection"),
        17 => (Known::Key, b"sec-websocket-key"),
        20 => (Known::Accept, b"sec-websocket-accept"),
        21 => (Known::Version, b"sec-websocket-version"),
        22 => (Known::Protocol, b"sec-websocket-protocol"),
        24 => (Known::Extensions, b"sec-websocket-extensions"),
        _ => return None,
    };
    name.iter()
        .zip(lower)
        .all(|(&b, &l)| b | 0x20 == l)
        .then_some(known)
}

/// The longest head that can be parsed: positions in it are recorded in 30 bits.
pub(crate) const MAX_PARSED_HEAD: usize = 1 << 30;

/// A handshake field seen while parsing: where its first value lies in the head, as offsets
/// (smaller than a slice, so that parsed heads stay small), and how many lines had it (0, 1,
/// or 2 for "more than one"), in the top 2 bits of the length. Heads are at most
/// [`MAX_PARSED_HEAD`] bytes long (checked when parsing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    start: u32,
    len_and_count: u32,
}

const LEN_BITS: u32 = 30;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;

impl Seen {
    /// Record one more line with `value`, a subslice of `head`.
    pub(crate) fn note(&mut self, head: &[u8], value: &[u8]) {
        let count = self.count();
        if count == 0 {
            let start = value.as_ptr().addr().wrapping_sub(head.as_ptr().addr());
            self.start = u32::try_from(start).unwrap_or(u32::MAX);
            self.len_and_count = u32::try_from(value.len()).unwrap_or(0) & LEN_MASK;
        }
        self.len_and_count =
            self.len_and_count & LEN_MASK | u32::from(count.min(1) + 1) << LEN_BITS;
    }

    /// How many lines had this field: 0, 1, or 2 for more than one.
    pub(crate) fn count(&self) -> u8 {
        (self.len_and_count >> LEN_BITS) as u8
    }

    /// The first value in `head` (empty if there was none).
    pub(crate) fn get(self, head: &[u8]) -> &[u8] {
        let start = self.start as usize;
        head.get(start..start + (self.len_and_count & LEN_MASK) as usize)
            .unwrap_or_default()
    }

    /// The first value, if any line had this field.
    pub(crate) fn value<'b>(&self, head: &'b [u8]) -> Option<&'b [u8]> {
        (self.count() > 0).then(|| self.get(head))
    }

    /// The elements of this comma-separated list field over every line: from the recorded
    /// value when there was at most one line, else by scanning the head again for `name`.
    pub(crate) fn list<'b>(&self, head: &'b [u8], name: &'static str) -> ListItems<'b, 'static> {
        if self.count() > 1 {
            Headers::new(head).list(name)
        } else {
            ListItems {
                headers: Headers { rest: &[] },
                name,
                current: self.get(head),
            }
        }
    }
}

/// Whether the comma-separated header list elements `values` (as yielded by
/// [`Headers::list`]) contain `token`, compared ASCII case-insensitively. Used for the
/// `Upgrade: websocket` and `Connection: Upgrade` rules (RFC 6455 §4.1, §4.2.1).
pub fn list_contains<'v>(mut values: impl Iterator<Item = &'v [u8]>, token: &str) -> bool {
    values.any(|v| v.eq_ignore_ascii_case(token.as_bytes()))
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
    fn seen_records_first_value_and_saturating_count() {
        let head = b"GET / HTTP/1.1\r\nA: one\r\nA: two\r\nA: three\r\n\r\n";
        let mut seen = Seen::default();
        assert_eq!((seen.count(), seen.value(head)), (0, None));
        assert!(seen.list(head, "A").next().is_none());
        seen.note(head, &head[19..22]);
        assert_eq!((seen.count(), seen.value(head)), (1, Some(&b"one"[..])));
        seen.note(head, &head[27..30]);
        seen.note(head, &head[35..40]);
        assert_eq!((seen.count(), seen.value(head)), (2, Some(&b"one"[..])));
        let all: Vec<_> = seen.list(head, "a").collect();
        assert_eq!(all, [&b"one"[..], b"two", b"three"]);
        assert_eq!(classify(b"SEC-WEBSOCKET-KEY"), Some(Known::Key));
        assert_eq!(classify(b"Sec-WebSocket-Kez"), None);
        assert_eq!(classify(b"Hosts"), None);
    }
}
