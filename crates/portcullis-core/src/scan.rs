//! A strict JSON reader (RFC 8259) for the two small objects of a compact JWS: the protected
//! header and the claims.
//!
//! It reads exactly the members portcullis needs, borrowing strings from the input when they have
//! no escapes, and walks everything else only to check its syntax and that no object repeats a
//! member name. It accepts a subset of what `serde_json` accepts (the property tests check this
//! against `serde_json`), so whatever portcullis verified can later be deserialized by the
//! application with `serde_json` and reads the same.
//!
//! Refused: anything but an object at the top, trailing bytes other than whitespace, unescaped
//! control characters, invalid escapes, lone UTF-16 surrogates, leading zeros, numbers outside
//! the `f64` range, nesting deeper than [`MAX_DEPTH`], and a member name given twice in one
//! object (compared after unescaping, so `"ex\u0070"` repeats `"exp"`).

use std::borrow::Cow;

/// The deepest nesting accepted (the top-level object is depth 1).
pub(crate) const MAX_DEPTH: usize = 64;

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Not JSON as portcullis reads it.
    Syntax,
    /// An object repeats a member name.
    Duplicate,
}

type Result<T> = std::result::Result<T, ScanError>;

/// A cursor over a JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

/// Member names of one object, to find repeats. Objects in tokens are small, so a linear scan
/// beats hashing; the first names live inline so that the common object allocates nothing.
/// A 64-bit filter of (length, last byte) lets most names skip the scan: a name whose bit is
/// not yet set cannot be a repeat.
struct Names<'a> {
    inline: [&'a str; INLINE_NAMES],
    len: usize,
    /// One bit per (length, last byte) class of the names seen.
    seen: u64,
    /// Names past the inline ones, and names that had escapes (decoded).
    spill: Vec<Cow<'a, str>>,
}

const INLINE_NAMES: usize = 12;

/// The filter bit of a name: equal names always share it.
fn class_bit(name: &str) -> u64 {
    let last = name.as_bytes().last().copied().unwrap_or(0);
    1 << ((name.len().wrapping_mul(7) ^ usize::from(last)) & 63)
}

impl<'a> Names<'a> {
    fn new() -> Self {
        Names {
            inline: [""; INLINE_NAMES],
            len: 0,
            seen: 0,
            spill: Vec::new(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.inline.iter().take(self.len).any(|n| *n == name)
            || self.spill.iter().any(|n| n == name)
    }

    /// Records `name`, or reports that the object already has it.
    // The `Cow` tells a name borrowed from the input (kept inline) from a decoded one.
    #[allow(clippy::ptr_arg)]
    fn insert(&mut self, name: &Cow<'a, str>) -> Result<()> {
        let bit = class_bit(name);
        if self.seen & bit != 0 && self.contains(name) {
            return Err(ScanError::Duplicate);
        }
        self.seen |= bit;
        match (name, self.inline.get_mut(self.len)) {
            (Cow::Borrowed(name), Some(slot)) => {
                *slot = name;
                self.len += 1;
            }
            (name, _) => self.spill.push(name.clone()),
        }
        Ok(())
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ScanError::Syntax)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(ScanError::Syntax)
        }
    }

    /// Reads the whole text as one object, calling `member` with each name; `member` must read
    /// or skip the value. Only whitespace may follow the object.
    pub(crate) fn top_object<F>(&mut self, mut member: F) -> Result<()>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    {
        self.top_object_knowing(|_| None, |r, name, _| member(r, name))
    }

    /// As [`Reader::top_object`], for an object some of whose names the caller knows: `known`
    /// gives each such name its number (below 64), which `member` receives with the name. A
    /// known name given twice is found by its bit, without the search among the names seen
    /// that the others take (the registered claims of a payload are most of its members).
    pub(crate) fn top_object_knowing<K, F>(&mut self, known: K, member: F) -> Result<()>
    where
        K: Fn(&str) -> Option<u32>,
        F: FnMut(&mut Self, Cow<'a, str>, Option<u32>) -> Result<()>,
    {
        self.skip_ws();
        self.object_knowing(1, known, member)?;
        self.skip_ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(ScanError::Syntax)
        }
    }

    fn object<F>(&mut self, depth: usize, mut member: F) -> Result<()>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    {
        self.object_knowing(depth, |_| None, |r, name, _| member(r, name))
    }

    fn object_knowing<K, F>(&mut self, depth: usize, known: K, mut member: F) -> Result<()>
    where
        K: Fn(&str) -> Option<u32>,
        F: FnMut(&mut Self, Cow<'a, str>, Option<u32>) -> Result<()>,
    {
        if depth > MAX_DEPTH {
            return Err(ScanError::Syntax);
        }
        self.eat(b'{')?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut names = Names::new();
        // One bit per known name seen.
        let mut known_seen = 0u64;
        loop {
            self.skip_ws();
            let name = self.string()?;
            let number = known(&name);
            match number {
                Some(n) if n < 64 => {
                    let bit = 1u64 << n;
                    if known_seen & bit != 0 {
                        return Err(ScanError::Duplicate);
                    }
                    known_seen |= bit;
                }
                _ => names.insert(&name)?,
            }
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            member(self, name, number)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(ScanError::Syntax),
            }
        }
    }

    /// Reads a member value that should be an object, calling `member` with each of its names
    /// (`member` must read or skip the value): `Ok(true)`. Any other value is skipped (its
    /// syntax checked): `Ok(false)`.
    pub(crate) fn object_or_other<F>(&mut self, member: F) -> Result<bool>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    {
        if self.peek() == Some(b'{') {
            self.object(2, member)?;
            Ok(true)
        } else {
            self.skip_value()?;
            Ok(false)
        }
    }

    /// Skips one value of any type, checking its syntax and, in objects, repeated names.
    pub(crate) fn skip_value(&mut self) -> Result<()> {
        self.skip_value_at(2)
    }

    fn skip_value_at(&mut self, depth: usize) -> Result<()> {
        match self.peek() {
            Some(b'{') => self.object(depth, |r, _| r.skip_value_at(depth + 1)),
            Some(b'[') => self.array(depth, |r| r.skip_value_at(depth + 1)),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => Err(ScanError::Syntax),
        }
    }

    fn array<F>(&mut self, depth: usize, mut element: F) -> Result<()>
    where
        F: FnMut(&mut Self) -> Result<()>,
    {
        if depth > MAX_DEPTH {
            return Err(ScanError::Syntax);
        }
        self.eat(b'[')?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            element(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(ScanError::Syntax),
            }
        }
    }

    /// Reads a string, borrowed when it has no escapes.
    // Inline: the fast path is short and runs for every name and string value of a token; a
    // string with an escape continues out of line.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        let bytes = self.bytes();
        let mut pos = start;
        // The fast path: no escapes. Every byte below 0x80 that ends or breaks the fast path is
        // ASCII, so `start..pos` always falls on character boundaries; `get` checks it anyway.
        // Whole words without a quote, backslash or control byte are skipped eight bytes at once.
        while let Some(word) = bytes.get(pos..pos + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let special = special_mask(u64::from_le_bytes(w));
            if special != 0 {
                // Straight to the first special byte, which the loop below reads.
                pos += (special.trailing_zeros() / 8) as usize;
                break;
            }
            pos += 8;
        }
        loop {
            match bytes.get(pos) {
                Some(b'"') => {
                    let s = self.text.get(start..pos).ok_or(ScanError::Syntax)?;
                    self.pos = pos + 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(&b) if b < 0x20 => return Err(ScanError::Syntax),
                Some(_) => pos += 1,
                None => return Err(ScanError::Syntax),
            }
        }
        self.pos = pos;
        self.escaped_string(start)
    }

    /// The rest of a string that started at `start` and has an escape at the cursor.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Result<Cow<'a, str>> {
        let bytes = self.bytes();
        let mut out = String::from(self.text.get(start..self.pos).ok_or(ScanError::Syntax)?);
        loop {
            let run_start = self.pos;
            loop {
                match bytes.get(self.pos) {
                    Some(b'"' | b'\\') => break,
                    Some(&b) if b < 0x20 => return Err(ScanError::Syntax),
                    Some(_) => self.pos += 1,
                    None => return Err(ScanError::Syntax),
                }
            }
            out.push_str(
                self.text
                    .get(run_start..self.pos)
                    .ok_or(ScanError::Syntax)?,
            );
            if self.peek() == Some(b'"') {
                self.pos += 1;
                return Ok(Cow::Owned(out));
            }
            self.pos += 1; // the backslash
            let escaped = self.peek().ok_or(ScanError::Syntax)?;
            self.pos += 1;
            let c = match escaped {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(ScanError::Syntax),
            };
            out.push(c);
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .bytes()
            .get(self.pos..self.pos + 4)
            .ok_or(ScanError::Syntax)?;
        let mut v = 0u32;
        for &d in digits {
            let n = char::from(d).to_digit(16).ok_or(ScanError::Syntax)?;
            v = (v << 4) | n;
        }
        self.pos += 4;
        Ok(v)
    }

    /// After `\u`: one code point, joining a surrogate pair; a lone surrogate is refused.
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                self.literal(b"\\u")?;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(ScanError::Syntax);
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(ScanError::Syntax),
            other => other,
        };
        char::from_u32(code).ok_or(ScanError::Syntax)
    }

    /// Reads a number (RFC 8259 grammar) as `f64`. Numbers outside the `f64` range are refused,
    /// as `serde_json` refuses them.
    pub(crate) fn number(&mut self) -> Result<f64> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        // The integer part, its value accumulated as it is read (exact while it has at most
        // 15 digits, the only case that uses it; longer ones may wrap, unused).
        let mut v: i64 = 0;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                let bytes = self.bytes();
                let mut pos = self.pos;
                while let Some(d @ b'0'..=b'9') = bytes.get(pos).copied() {
                    v = v.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
                    pos += 1;
                }
                self.pos = pos;
            }
            _ => return Err(ScanError::Syntax),
        }
        let int_digits = self.pos - start - usize::from(negative);
        let mut simple = true;
        if self.peek() == Some(b'.') {
            simple = false;
            self.pos += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            simple = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digits()?;
        }
        // Up to 15 digits an integer is exact in f64: its value as read.
        if simple && int_digits <= 15 {
            #[allow(clippy::cast_precision_loss)] // at most 15 digits: exact
            let v = v as f64;
            return Ok(if negative { -v } else { v });
        }
        let lexeme = self.text.get(start..self.pos).ok_or(ScanError::Syntax)?;
        match lexeme.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(ScanError::Syntax),
        }
    }

    fn digits(&mut self) -> Result<()> {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        if self.pos == start {
            Err(ScanError::Syntax)
        } else {
            Ok(())
        }
    }

    /// A string, or `None` (after skipping it) for a value of another type.
    pub(crate) fn string_or_other(&mut self) -> Result<Option<Cow<'a, str>>> {
        if self.peek() == Some(b'"') {
            self.string().map(Some)
        } else {
            self.skip_value().map(|()| None)
        }
    }

    /// A number, or `None` (after skipping it) for a value of another type.
    pub(crate) fn number_or_other(&mut self) -> Result<Option<f64>> {
        if let Some(b'-' | b'0'..=b'9') = self.peek() {
            self.number().map(Some)
        } else {
            self.skip_value().map(|()| None)
        }
    }

    /// A boolean, or `None` (after skipping it) for a value of another type.
    pub(crate) fn bool_or_other(&mut self) -> Result<Option<bool>> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| Some(true)),
            Some(b'f') => self.literal(b"false").map(|()| Some(false)),
            _ => self.skip_value().map(|()| None),
        }
    }

    /// A string, an array of strings, or `None` (after skipping it) for anything else,
    /// including an array with a non-string element.
    pub(crate) fn str_or_list_or_other(&mut self) -> Result<Option<StrOrList<'a>>> {
        match self.peek() {
            Some(b'"') => self.string().map(|s| Some(StrOrList::Str(s))),
            Some(b'[') => {
                let mut items = Vec::new();
                let mut all_strings = true;
                self.array(2, |r| {
                    if r.peek() == Some(b'"') {
                        items.push(r.string()?);
                    } else {
                        all_strings = false;
                        r.skip_value_at(3)?;
                    }
                    Ok(())
                })?;
                Ok(all_strings.then_some(StrOrList::List(items)))
            }
            _ => self.skip_value().map(|()| None),
        }
    }
}

/// A mask with the high bit set in bytes of `word` that are `"`, `\\` or below 0x20: the
/// bytes that end the fast path of a string. (Classic word-at-a-time tests.) Bytes above a
/// flagged one may be flagged falsely (a borrow), but the lowest flagged byte is always a
/// real one, so `trailing_zeros() / 8` is the index of the first special byte; and no special
/// byte goes unflagged.
fn special_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zeros = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_0x20 = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_0x20 | zeros(word ^ (ONES * u64::from(b'"'))) | zeros(word ^ (ONES * u64::from(b'\\')))
}

/// Whether any byte of `word` is special (see [`special_mask`]).
#[cfg(test)]
fn has_special_byte(word: u64) -> bool {
    special_mask(word) != 0
}

/// A string or an array of strings, as `aud`, `scope` and `scp` may be.
pub(crate) enum StrOrList<'a> {
    Str(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_told_apart_by_their_number_and_repeats_found() {
        // "a" and "b" known (numbers 3 and 5), "c" not, "big" and "huge" numbered past the
        // bits (kept among the names seen instead).
        let known = |name: &str| match name {
            "a" => Some(3),
            "b" => Some(5),
            "big" => Some(64),
            "huge" => Some(100),
            _ => None,
        };
        let read = |text: &str| {
            let mut seen = Vec::new();
            Reader::new(text)
                .top_object_knowing(known, |r, name, number| {
                    seen.push((name.into_owned(), number));
                    r.skip_value()
                })
                .map(|()| seen)
        };
        assert_eq!(
            read(r#"{"a":1,"c":{"a":2},"b":3,"big":4}"#),
            Ok(vec![
                ("a".to_owned(), Some(3)),
                ("c".to_owned(), None),
                ("b".to_owned(), Some(5)),
                ("big".to_owned(), Some(64)),
            ])
        );
        for repeated in [
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"c":2,"\u0062":3}"#,
            r#"{"c":1,"c":2}"#,
            r#"{"big":1,"big":2}"#,
            r#"{"huge":1,"a":2,"huge":3}"#,
            r#"{"a":1,"c":{"d":1,"d":2}}"#,
        ] {
            assert_eq!(read(repeated), Err(ScanError::Duplicate), "{repeated}");
        }
        // Known numbers are per object: a nested object may use the same names.
        assert!(read(r#"{"a":{"a":1,"b":2},"b":{"b":1}}"#).is_ok());
    }

    fn scan(text: &str) -> Result<()> {
        Reader::new(text).top_object(|r, _| r.skip_value())
    }

    #[test]
    fn accepts_json_objects() {
        for ok in [
            "{}",
            " {\"a\" : 1 } \n",
            r#"{"a":[1,-2.5e+3,0,-0,1E2,true,false,null,"x",{"b":[]}],"c":{}}"#,
            r#"{"\u00e9\ud83d\ude00":"\"\\\/\b\f\n\r\t"}"#,
            r#"{"a":{"x":1},"b":{"x":2}}"#,
        ] {
            assert_eq!(scan(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_strict_json() {
        for bad in [
            "",
            "[]",
            "1",
            "\"a\"",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1} x",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":+1}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{a:1}",
            "{'a':1}",
            "{\"a\":1e400}",
            "{\"a\":-1e400}",
            "{\"a\":NaN}",
            "{\"a\":[1,]}",
            "\u{feff}{}",
            "{\"a\":1}\u{0}",
        ] {
            assert_eq!(scan(bad), Err(ScanError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn repeated_names_are_found_at_every_depth_after_unescaping() {
        for dup in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"\u0061":1}"#,
            r#"{"x":{"a":1,"a":2}}"#,
            r#"{"x":[{"a":1,"a":2}]}"#,
            r#"{"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":0,"10":0,"11":0,"12":0,"13":0,"13":0}"#,
        ] {
            assert_eq!(scan(dup), Err(ScanError::Duplicate), "{dup}");
        }
    }

    #[test]
    fn the_word_test_finds_the_first_special_byte_exactly() {
        let specials: Vec<u8> = (0u8..0x20).chain([b'"', b'\\']).collect();
        for &first in &specials {
            for at in 0..8 {
                // Anything at all after the first special byte, special bytes included.
                for &after in specials.iter().chain(&[b'a', 0x7f, 0x80, 0xff]) {
                    let mut w = [b'x'; 8];
                    w[at] = first;
                    for b in w.iter_mut().skip(at + 1) {
                        *b = after;
                    }
                    let mask = special_mask(u64::from_le_bytes(w));
                    assert_eq!(mask.trailing_zeros() as usize / 8, at, "{w:?}");
                }
            }
        }
    }

    #[test]
    fn the_word_test_flags_every_special_byte_in_every_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..8 {
                let mut w = *b"abcdefgh";
                w[at] = special;
                assert!(
                    has_special_byte(u64::from_le_bytes(w)),
                    "{special:#x} at {at}"
                );
            }
        }
        for plain in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(
                !has_special_byte(u64::from_le_bytes([plain; 8])),
                "{plain:#x}"
            );
        }
        // Strings of every length around the word size, with the special byte at every place.
        for len in 0..20 {
            for at in 0..len {
                for special in [r"\n", "\u{1}", "\u{1f}"] {
                    let mut body: Vec<char> = "x".repeat(len).chars().collect();
                    body[at] = 'é';
                    let text: String = body.iter().collect();
                    let doc = format!("{{\"a\":\"{}{special}{}\"}}", &text[..], &text[..]);
                    assert_eq!(scan(&doc).is_ok(), special == "\\n", "{doc:?}");
                }
            }
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(scan(&deep(MAX_DEPTH - 1)), Ok(()));
        assert_eq!(scan(&deep(MAX_DEPTH)), Err(ScanError::Syntax));
        assert_eq!(scan(&deep(100_000)), Err(ScanError::Syntax));
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for text in [
            "0",
            "-0",
            "17",
            "-17",
            "1700000000",
            "1.5",
            "-2.25e3",
            "123456789012345678901234",
            "1e308",
            "4.9e-324",
        ] {
            let doc = format!("{{\"n\":{text}}}");
            let mut got = None;
            Reader::new(&doc)
                .top_object(|r, _| {
                    got = r.number_or_other()?;
                    Ok(())
                })
                .unwrap();
            // Correctly rounded, as Rust's parser is (serde_json without its
            // `float_roundtrip` feature can be one ulp off on long inputs).
            let want: f64 = text.parse().unwrap();
            assert_eq!(got, Some(want), "{text}");
        }
    }

    /// The scanner against `serde_json`, the parser the application will use on the same bytes.
    mod differential {
        use super::super::*;
        use proptest::prelude::*;
        use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
        use serde_json::Value;
        use std::fmt;

        /// Walks a document with serde_json and reports whether an object repeats a name.
        struct NoRepeats;

        impl<'de> DeserializeSeed<'de> for NoRepeats {
            type Value = bool;
            fn deserialize<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<bool, D::Error> {
                d.deserialize_any(self)
            }
        }

        impl<'de> Visitor<'de> for NoRepeats {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_unit<E>(self) -> std::result::Result<bool, E> {
                Ok(true)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<bool, A::Error> {
                let mut ok = true;
                while let Some(item) = seq.next_element_seed(NoRepeats)? {
                    ok &= item;
                }
                Ok(ok)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<bool, A::Error> {
                let mut names: Vec<String> = Vec::new();
                let mut ok = true;
                while let Some(name) = map.next_key::<String>()? {
                    ok &= !names.contains(&name);
                    names.push(name);
                    ok &= map.next_value_seed(NoRepeats)?;
                }
                Ok(ok)
            }
        }

        /// What serde_json says: `Some(true)` for an object without repeated names,
        /// `Some(false)` for one with, `None` when it is not a JSON object.
        fn oracle(text: &str) -> Option<bool> {
            let value: Value = serde_json::from_str(text).ok()?;
            if !value.is_object() {
                return None;
            }
            let mut de = serde_json::Deserializer::from_str(text);
            NoRepeats.deserialize(&mut de).ok()
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                any::<String>().prop_map(Value::from),
                "[a-z\\\\\"\\u{0}-\\u{1f}é😀]{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 40, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map("[a-z]{0,3}|exp|aud|iss", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn json_object() -> impl Strategy<Value = Value> {
            prop::collection::btree_map("[a-z]{0,3}|exp|aud|iss|scope", json_value(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        }

        /// Object text written member by member, so that names may repeat, at the top level and
        /// in nested objects (serde_json's `Value` cannot hold a repeat).
        fn object_text_with_repeats() -> impl Strategy<Value = String> {
            let member = ("a|b|exp|\\\\u0061", json_value());
            let nested = prop::collection::vec(member, 0..4).prop_map(|members| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{}", serde_json::to_string(v).unwrap()))
                    .collect();
                format!("{{{}}}", body.join(","))
            });
            let value = prop_oneof![
                json_value().prop_map(|v| serde_json::to_string(&v).unwrap()),
                nested
            ];
            prop::collection::vec(("a|b|exp|\\\\u0065xp|iss", value), 0..6).prop_map(|members| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        }

        /// Reads every member as the claims reader would, returning what it saw.
        fn read_members(text: &str) -> Result<Vec<(String, String)>> {
            let mut seen = Vec::new();
            Reader::new(text).top_object(|r, name| {
                let shown = match r.peek() {
                    Some(b'"') => format!("s:{}", r.string()?),
                    Some(b'-' | b'0'..=b'9') => format!("n:{}", r.number()?),
                    _ => {
                        r.skip_value()?;
                        "other".to_owned()
                    }
                };
                seen.push((name.into_owned(), shown));
                Ok(())
            })?;
            Ok(seen)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn every_serde_json_object_is_read_with_the_same_values(v in json_object()) {
                for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
                    let members = read_members(&text).unwrap();
                    let map = v.as_object().unwrap();
                    prop_assert_eq!(members.len(), map.len());
                    for (name, shown) in members {
                        let expected = match &map[&name] {
                            Value::String(s) => format!("s:{s}"),
                            Value::Number(n) => format!("n:{}", text_number(n)),
                            _ => "other".to_owned(),
                        };
                        prop_assert_eq!(shown, expected);
                    }
                }
            }

            #[test]
            fn repeated_names_are_found_exactly_when_serde_json_sees_them(text in object_text_with_repeats()) {
                let ours = Reader::new(&text).top_object(|r, _| r.skip_value());
                match oracle(&text) {
                    Some(true) => prop_assert_eq!(ours, Ok(()), "{}", text),
                    Some(false) => prop_assert_eq!(ours, Err(ScanError::Duplicate), "{}", text),
                    None => prop_assert!(ours.is_err(), "accepted what serde_json refuses: {}", text),
                }
            }

            #[test]
            fn edited_documents_are_accepted_exactly_when_serde_json_accepts_them_without_repeats(
                v in json_object(),
                edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(vec![
                    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "d800", "\\udc00", "0", "-", ".", "e",
                    " ", "\n", "\u{1}", "t", "n", "1e400", "\"exp\":1,", "\"a\"", "é",
                ])), 1..4),
            ) {
                let mut text = serde_json::to_string(&v).unwrap();
                for (at, op, piece) in edits {
                    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                    let i = boundaries[at.index(boundaries.len())];
                    match op {
                        0 => text.insert_str(i, piece),
                        1 => if i < text.len() { text.remove(i); },
                        _ => { text.insert_str(i, piece); if i < text.len() { text.remove(i); } }
                    }
                }
                let ours = Reader::new(&text).top_object(|r, _| r.skip_value());
                match oracle(&text) {
                    Some(true) => prop_assert_eq!(ours, Ok(()), "{}", text),
                    Some(false) => prop_assert_eq!(ours, Err(ScanError::Duplicate), "{}", text),
                    None => prop_assert!(ours.is_err(), "accepted what serde_json refuses: {}", text),
                }
            }
        }

        /// How a serde_json number reads as `f64`, correctly rounded from its text.
        fn text_number(n: &serde_json::Number) -> f64 {
            n.to_string().parse().unwrap()
        }
    }
}
