//! RFC 8941 structured fields: parsing of Lists and Items, and serialising, following the RFC's
//! algorithms (§4.1 serialising, §4.2 parsing) so a header a browser sends is read exactly as
//! the grammar says and anything outside it is refused whole.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt::Write;

/// A bare item (RFC 8941 §3.3).
#[derive(Clone, Debug, PartialEq)]
pub enum BareItem {
    /// `-?[0-9]{1,15}`.
    Integer(i64),
    /// `-?[0-9]{1,12}.[0-9]{1,3}`, kept as thousandths so it compares exactly.
    Decimal(i64),
    /// A quoted string of printable ASCII.
    String(String),
    /// An unquoted token.
    Token(String),
    /// `:base64:`.
    Bytes(Vec<u8>),
    /// `?0` / `?1`.
    Boolean(bool),
}

/// Parameters: ordered keys, a later duplicate replacing the earlier value (§4.2.3.2).
pub type Params = Vec<(String, BareItem)>;

/// An item with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The value.
    pub bare: BareItem,
    /// Its parameters.
    pub params: Params,
}

impl Item {
    /// The parameter `key`, if present.
    pub fn param(&self, key: &str) -> Option<&BareItem> {
        param(&self.params, key)
    }
}

/// A list member: an item or an inner list.
#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    /// A single item.
    Item(Item),
    /// `( item item ... )` with parameters of its own.
    InnerList(Vec<Item>, Params),
}

/// The input is not a structured field of the expected type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed structured field")]
pub struct SfError;

type R<T> = Result<T, SfError>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a BareItem> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn list(&mut self) -> R<Vec<Member>> {
        let mut members = Vec::new();
        while !self.done() {
            members.push(self.member()?);
            self.skip_ows();
            if self.done() {
                return Ok(members);
            }
            if !self.eat(b',') {
                return Err(SfError);
            }
            self.skip_ows();
            if self.done() {
                return Err(SfError); // a trailing comma
            }
        }
        Ok(members)
    }

    fn member(&mut self) -> R<Member> {
        if self.peek() == Some(b'(') {
            self.inner_list()
        } else {
            self.item().map(Member::Item)
        }
    }

    fn inner_list(&mut self) -> R<Member> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return Ok(Member::InnerList(items, self.params()?));
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(SfError);
            }
        }
    }

    fn item(&mut self) -> R<Item> {
        let bare = self.bare()?;
        Ok(Item {
            bare,
            params: self.params()?,
        })
    }

    fn params(&mut self) -> R<Params> {
        let mut params: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare()?
            } else {
                BareItem::Boolean(true)
            };
            match params.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => params.push((key, value)),
            }
        }
        Ok(params)
    }

    fn key(&mut self) -> R<String> {
        let start = self.i;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.i += 1,
            _ => return Err(SfError),
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.i += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn bare(&mut self) -> R<BareItem> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => self.boolean(),
            Some(c) if c == b'*' || c.is_ascii_alphabetic() => self.token(),
            _ => Err(SfError),
        }
    }

    fn number(&mut self) -> R<BareItem> {
        let negative = self.eat(b'-');
        let start = self.i;
        let mut dot = None;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {}
                b'.' if dot.is_none() && self.i > start => dot = Some(self.i),
                _ => break,
            }
            self.i += 1;
            let len = self.i - start;
            if (dot.is_none() && len > 15) || (dot.is_some() && len > 16) {
                return Err(SfError);
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| SfError)?;
        let sign = if negative { -1 } else { 1 };
        match dot {
            None => {
                let n: i64 = text.parse().map_err(|_| SfError)?;
                Ok(BareItem::Integer(sign * n))
            }
            Some(at) => {
                let (int, frac) = (&text[..at - start], &text[at - start + 1..]);
                if int.len() > 12 || frac.is_empty() || frac.len() > 3 {
                    return Err(SfError);
                }
                let whole: i64 = int.parse().map_err(|_| SfError)?;
                let mut thousandths: i64 = frac.parse().map_err(|_| SfError)?;
                thousandths *= 10_i64.pow(3 - frac.len() as u32);
                Ok(BareItem::Decimal(sign * (whole * 1000 + thousandths)))
            }
        }
    }

    fn string(&mut self) -> R<BareItem> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or(SfError)?;
            self.i += 1;
            match c {
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.i += 1;
                        out.push(e as char);
                    }
                    _ => return Err(SfError),
                },
                b'"' => return Ok(BareItem::String(out)),
                0x20..=0x7e => out.push(c as char),
                _ => return Err(SfError),
            }
        }
    }

    fn token(&mut self) -> R<BareItem> {
        let start = self.i;
        self.i += 1;
        while self
            .peek()
            .is_some_and(|c| is_tchar(c) || c == b':' || c == b'/')
        {
            self.i += 1;
        }
        Ok(BareItem::Token(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    fn bytes(&mut self) -> R<BareItem> {
        self.i += 1;
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        {
            self.i += 1;
        }
        let body = &self.s[start..self.i];
        if !self.eat(b':') {
            return Err(SfError);
        }
        B64.decode(body).map(BareItem::Bytes).map_err(|_| SfError)
    }

    fn boolean(&mut self) -> R<BareItem> {
        self.i += 1;
        let value = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(SfError),
        };
        self.i += 1;
        Ok(BareItem::Boolean(value))
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn parse_whole<T>(input: &str, f: impl FnOnce(&mut Parser<'_>) -> R<T>) -> R<T> {
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let value = f(&mut p)?;
    p.skip_sp();
    if p.done() {
        Ok(value)
    } else {
        Err(SfError)
    }
}

/// Parses a header value as a List (§4.2.1).
pub fn parse_list(input: &str) -> R<Vec<Member>> {
    parse_whole(input, |p| p.list())
}

/// Parses a header value as an Item (§4.2.3).
pub fn parse_item(input: &str) -> R<Item> {
    parse_whole(input, |p| p.item())
}

/// Serialises a List (§4.1.1); fails on a value the grammar cannot carry.
pub fn serialize_list(members: &[Member]) -> R<String> {
    let mut out = String::new();
    for (n, m) in members.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        match m {
            Member::Item(item) => write_item(&mut out, item)?,
            Member::InnerList(items, params) => {
                out.push('(');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push(' ');
                    }
                    write_item(&mut out, item)?;
                }
                out.push(')');
                write_params(&mut out, params)?;
            }
        }
    }
    Ok(out)
}

/// Serialises an Item (§4.1.3).
pub fn serialize_item(item: &Item) -> R<String> {
    let mut out = String::new();
    write_item(&mut out, item)?;
    Ok(out)
}

fn write_item(out: &mut String, item: &Item) -> R<()> {
    write_bare(out, &item.bare)?;
    write_params(out, &item.params)
}

fn write_params(out: &mut String, params: &Params) -> R<()> {
    for (key, value) in params {
        let mut chars = key.bytes();
        let first_ok = matches!(chars.next(), Some(b'a'..=b'z' | b'*'));
        if !first_ok
            || !chars.all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
        {
            return Err(SfError);
        }
        out.push(';');
        out.push_str(key);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            write_bare(out, value)?;
        }
    }
    Ok(())
}

fn write_bare(out: &mut String, bare: &BareItem) -> R<()> {
    const MAX_INT: i64 = 999_999_999_999_999;
    match bare {
        BareItem::Integer(n) if n.abs() <= MAX_INT => {
            let _ = write!(out, "{n}");
        }
        BareItem::Decimal(t) if t.abs() / 1000 < 1_000_000_000_000 => {
            let sign = if *t < 0 { "-" } else { "" };
            let (whole, frac) = (t.abs() / 1000, t.abs() % 1000);
            let frac = format!("{frac:03}");
            let frac = frac.trim_end_matches('0');
            let _ = write!(
                out,
                "{sign}{whole}.{}",
                if frac.is_empty() { "0" } else { frac }
            );
        }
        BareItem::String(s) if s.bytes().all(|c| (0x20..=0x7e).contains(&c)) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::Token(t)
            if t.bytes()
                .next()
                .is_some_and(|c| c == b'*' || c.is_ascii_alphabetic())
                && t.bytes().all(|c| is_tchar(c) || c == b':' || c == b'/') =>
        {
            out.push_str(t);
        }
        BareItem::Bytes(b) => {
            let _ = write!(out, ":{}:", B64.encode(b));
        }
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
        _ => return Err(SfError),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tok(s: &str) -> Item {
        Item {
            bare: BareItem::Token(s.into()),
            params: vec![],
        }
    }

    #[test]
    fn the_registration_header_round_trips() {
        let header = r#"(ES256 RS256);path="/dbsc/register";challenge="abc-_09""#;
        let parsed = parse_list(header).expect("parses");
        let Member::InnerList(items, params) = &parsed[0] else {
            panic!("inner list")
        };
        assert_eq!(items, &vec![tok("ES256"), tok("RS256")]);
        assert_eq!(
            param(params, "path"),
            Some(&BareItem::String("/dbsc/register".into()))
        );
        assert_eq!(serialize_list(&parsed).expect("serialises"), header);
    }

    #[test]
    fn rfc_examples_parse_as_the_rfc_says() {
        assert_eq!(
            parse_item("42").unwrap().bare,
            BareItem::Integer(42),
            "integer"
        );
        assert_eq!(parse_item("-4.5").unwrap().bare, BareItem::Decimal(-4500));
        assert_eq!(
            parse_item(r#""say \"hi\"""#).unwrap().bare,
            BareItem::String(r#"say "hi""#.into())
        );
        assert_eq!(
            parse_item(":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:")
                .unwrap()
                .bare,
            BareItem::Bytes(b"pretend this is binary content.".to_vec())
        );
        assert_eq!(parse_item("?0").unwrap().bare, BareItem::Boolean(false));
        let skipped = parse_list(r#"unreachable;session_identifier="a", quota_exceeded"#)
            .expect("a list of two");
        assert_eq!(skipped.len(), 2);
        let item = parse_item("a;b;c=?0").unwrap();
        assert_eq!(item.param("b"), Some(&BareItem::Boolean(true)));
        assert_eq!(item.param("c"), Some(&BareItem::Boolean(false)));
        assert_eq!(
            parse_item("a;x=1;x=2").unwrap().param("x"),
            Some(&BareItem::Integer(2)),
            "a later duplicate parameter wins"
        );
        assert_eq!(parse_list("").unwrap(), vec![], "an empty list");
    }

    #[test]
    fn anything_outside_the_grammar_is_refused() {
        for bad in [
            "\"unterminated",
            "\"bad \\n escape\"",
            "\"tab\there\"",
            "1234567890123456",
            "1.2345",
            "1234567890123.1",
            "1.",
            "?2",
            ":not base64!:",
            ":abc",
            "a;B=1",
            "a;=1",
            "é",
            "(a b",
            "(a\tb)",
            "a, ",
            "a,,b",
            "a b",
            "-",
        ] {
            assert!(
                parse_list(bad).is_err() || parse_item(bad).is_err(),
                "{bad:?} must be refused"
            );
            assert!(parse_item(bad).is_err(), "{bad:?} is no item");
        }
    }

    #[test]
    fn unserialisable_values_are_refused() {
        let bad = |bare| {
            serialize_item(&Item {
                bare,
                params: vec![],
            })
            .is_err()
        };
        assert!(bad(BareItem::String("new\nline".into())));
        assert!(bad(BareItem::Token("1abc".into())));
        assert!(bad(BareItem::Token(String::new())));
        assert!(bad(BareItem::Integer(1_000_000_000_000_000)));
    }

    fn bare() -> impl Strategy<Value = BareItem> {
        prop_oneof![
            (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(BareItem::Integer),
            (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(BareItem::Decimal),
            "[ -~]{0,20}".prop_map(BareItem::String),
            "[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]{0,10}".prop_map(BareItem::Token),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(BareItem::Bytes),
            any::<bool>().prop_map(BareItem::Boolean),
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        let params =
            proptest::collection::vec(("[a-z*][a-z0-9_.*-]{0,5}", bare()), 0..3).prop_map(|ps| {
                let mut out: Params = Vec::new();
                for (k, v) in ps {
                    if !out.iter().any(|(key, _)| *key == k) {
                        out.push((k, v));
                    }
                }
                out
            });
        (bare(), params).prop_map(|(bare, params)| Item { bare, params })
    }

    proptest! {
        #[test]
        fn serialised_lists_parse_back_to_themselves(
            members in proptest::collection::vec(
                prop_oneof![
                    item().prop_map(Member::Item),
                    (proptest::collection::vec(item(), 0..3), item())
                        .prop_map(|(items, p)| Member::InnerList(items, p.params)),
                ],
                0..4,
            )
        ) {
            let text = serialize_list(&members).expect("valid values serialise");
            prop_assert_eq!(parse_list(&text).expect("and parse"), members);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}") {
            let _ = parse_list(&s);
            let _ = parse_item(&s);
        }
    }
}
