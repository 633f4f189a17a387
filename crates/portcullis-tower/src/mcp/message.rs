//! One strict reading of an MCP message body (a JSON-RPC 2.0 message): which method it
//! calls and, for `tools/call`, which tool. The decision is taken from this one parse; the
//! bytes go on unchanged.
//!
//! The rules are those portcullis uses for tokens: the whole body must be one JSON object in
//! valid UTF-8 (no batch, no trailing bytes, no byte-order mark), its members and those of
//! `params` each named once (names compared after their escapes are decoded, so
//! `"m\u0065thod"` is `method`), nesting no deeper than a limit, strings with valid escapes
//! (no lone surrogate) and no raw control characters. A `tools/call` must name its tool in
//! `params.name`, a string; a message with both `method` and `result` or `error` is refused.
//! Anything else is an error, never a guess.

use std::collections::HashSet;
use std::fmt;

/// What a message body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// A `tools/call` of the tool with this name.
    ToolCall(String),
    /// Any other request or notification (its method), or a response (no method).
    Other(Option<String>),
}

/// Why a message body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyErrorKind {
    /// The body is larger than the configured cap (answered `413`).
    TooLarge,
    /// The body could not be read to its end (the client went away, or its framing broke).
    Unreadable,
    /// The body is not UTF-8.
    NotUtf8,
    /// The body is not one JSON value (bad syntax, truncated, trailing bytes, empty).
    NotJson,
    /// The body is a JSON array: a batch, which MCP does not allow and which could hide a
    /// call behind another.
    Batch,
    /// The body is JSON but not an object.
    NotAnObject,
    /// The body nests deeper than the configured limit.
    TooDeep,
    /// A member of the message, or of its `params`, is named twice (escaped spellings
    /// included).
    DuplicateMember,
    /// `method` is not a string.
    MethodNotString,
    /// A message with a `method` and also a `result` or an `error`: a request or a
    /// response, which is ambiguous.
    Ambiguous,
    /// A `tools/call` whose `params` is not an object with a string `name`.
    ToolNameMissing,
}

impl BodyErrorKind {
    /// A short stable identifier, as logged.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            BodyErrorKind::TooLarge => "body_too_large",
            BodyErrorKind::Unreadable => "body_unreadable",
            BodyErrorKind::NotUtf8 => "body_not_utf8",
            BodyErrorKind::NotJson => "body_not_json",
            BodyErrorKind::Batch => "body_batch",
            BodyErrorKind::NotAnObject => "body_not_an_object",
            BodyErrorKind::TooDeep => "body_too_deep",
            BodyErrorKind::DuplicateMember => "body_duplicate_member",
            BodyErrorKind::MethodNotString => "body_method_not_string",
            BodyErrorKind::Ambiguous => "body_ambiguous",
            BodyErrorKind::ToolNameMissing => "body_tool_name_missing",
        }
    }

    /// The JSON-RPC error code of the answer: `-32700` (parse error) for a body that is not
    /// JSON as read, `-32600` (invalid request) for the rest.
    #[must_use]
    pub fn json_rpc_code(self) -> i32 {
        match self {
            BodyErrorKind::NotUtf8 | BodyErrorKind::NotJson | BodyErrorKind::TooDeep => -32700,
            _ => -32600,
        }
    }
}

/// A message body that the MCP profile refuses: [`BodyError::kind`] says why, and where in
/// the body for syntax errors ([`BodyError::offset`]). Never holds the body's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    kind: BodyErrorKind,
    offset: Option<usize>,
}

impl BodyError {
    pub(crate) fn new(kind: BodyErrorKind) -> Self {
        BodyError { kind, offset: None }
    }

    fn at(kind: BodyErrorKind, offset: usize) -> Self {
        BodyError {
            kind,
            offset: Some(offset),
        }
    }

    /// Why.
    #[must_use]
    pub fn kind(&self) -> BodyErrorKind {
        self.kind
    }

    /// The byte offset where reading stopped, for errors found while parsing.
    #[must_use]
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            BodyErrorKind::TooLarge => "the message body is larger than allowed",
            BodyErrorKind::Unreadable => "the message body could not be read",
            BodyErrorKind::NotUtf8 => "the message body is not UTF-8",
            BodyErrorKind::NotJson => "the message body is not one JSON value",
            BodyErrorKind::Batch => "JSON-RPC batches are not accepted",
            BodyErrorKind::NotAnObject => "the message is not a JSON object",
            BodyErrorKind::TooDeep => "the message nests too deeply",
            BodyErrorKind::DuplicateMember => "a member of the message is given twice",
            BodyErrorKind::MethodNotString => "the message's method is not a string",
            BodyErrorKind::Ambiguous => "the message is both a request and a response",
            BodyErrorKind::ToolNameMissing => "the tools/call message names no tool",
        })?;
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

impl std::error::Error for BodyError {}

/// Reads `body` as one MCP message, nesting at most `max_depth` levels (the message object
/// is level 1, its `params` level 2).
///
/// # Errors
/// The [`BodyError`] of the first rule the body breaks.
pub(crate) fn read(body: &[u8], max_depth: usize) -> Result<Message, BodyError> {
    if std::str::from_utf8(body).is_err() {
        return Err(BodyError::new(BodyErrorKind::NotUtf8));
    }
    let mut r = Reader {
        bytes: body,
        pos: 0,
        max_depth,
    };
    r.ws();
    match r.peek() {
        Some(b'{') => {}
        Some(b'[') => return Err(BodyError::new(BodyErrorKind::Batch)),
        Some(_) => {
            // Any other JSON value is refused; say which when it is one.
            r.skip_value(0)?;
            r.end()?;
            return Err(BodyError::new(BodyErrorKind::NotAnObject));
        }
        None => return Err(r.error(BodyErrorKind::NotJson)),
    }
    let message = r.message()?;
    r.end()?;
    Ok(message)
}

/// What the message object held, before the decision.
#[derive(Default)]
struct Found {
    method: Option<String>,
    /// `params.name`, when `params` is an object and its `name` a string.
    name: Option<String>,
    /// A `result` or `error` member.
    response: bool,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, kind: BodyErrorKind) -> BodyError {
        BodyError::at(kind, self.pos)
    }

    fn syntax(&self) -> BodyError {
        self.error(BodyErrorKind::NotJson)
    }

    /// JSON whitespace (RFC 8259: space, tab, line feed, carriage return), nothing else.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), BodyError> {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// Nothing but whitespace remains.
    fn end(&mut self) -> Result<(), BodyError> {
        self.ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// The message object (at `{`): its members, then the decision.
    fn message(&mut self) -> Result<Message, BodyError> {
        let mut found = Found::default();
        let mut seen = HashSet::new();
        self.object(1, &mut seen, |r, key| {
            match key {
                "method" => {
                    r.ws();
                    if r.peek() != Some(b'"') {
                        return Err(r.error(BodyErrorKind::MethodNotString));
                    }
                    found.method = Some(r.string(true)?.unwrap_or_default());
                }
                "params" => {
                    r.ws();
                    if r.peek() == Some(b'{') {
                        found.name = r.params()?;
                    } else {
                        r.skip_value(1)?;
                    }
                }
                "result" | "error" => {
                    found.response = true;
                    r.skip_value(1)?;
                }
                _ => r.skip_value(1)?,
            }
            Ok(())
        })?;
        match found.method {
            None => Ok(Message::Other(None)),
            Some(_) if found.response => Err(BodyError::new(BodyErrorKind::Ambiguous)),
            Some(method) if method == "tools/call" => match found.name {
                Some(name) => Ok(Message::ToolCall(name)),
                None => Err(BodyError::new(BodyErrorKind::ToolNameMissing)),
            },
            Some(method) => Ok(Message::Other(Some(method))),
        }
    }

    /// The `params` object (at `{`, level 2): its `name`, when a string. Its members are
    /// named once each too.
    fn params(&mut self) -> Result<Option<String>, BodyError> {
        let mut name = None;
        let mut seen = HashSet::new();
        self.object(2, &mut seen, |r, key| {
            r.ws();
            if key == "name" && r.peek() == Some(b'"') {
                name = r.string(true)?;
            } else {
                r.skip_value(2)?;
            }
            Ok(())
        })?;
        Ok(name)
    }

    /// An object at `{` on level `level`, calling `member` with each decoded member name,
    /// positioned at its value, which `member` must consume. A name seen before is refused.
    fn object(
        &mut self,
        level: usize,
        seen: &mut HashSet<String>,
        mut member: impl FnMut(&mut Self, &str) -> Result<(), BodyError>,
    ) -> Result<(), BodyError> {
        if level > self.max_depth {
            return Err(self.error(BodyErrorKind::TooDeep));
        }
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax());
            }
            let start = self.pos;
            let key = self.string(true)?.unwrap_or_default();
            self.eat(b':')?;
            member(self, &key)?;
            if !seen.insert(key) {
                return Err(BodyError::at(BodyErrorKind::DuplicateMember, start));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax()),
            }
        }
    }

    /// Skips one value of any kind, inside a container on level `level`. Iterative: the
    /// depth limit bounds a stack of bytes, not the call stack.
    fn skip_value(&mut self, level: usize) -> Result<(), BodyError> {
        // The open containers: `{` or `[`.
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value.
            self.ws();
            match self.peek() {
                Some(bracket @ (b'{' | b'[')) => {
                    if level + open.len() + 1 > self.max_depth {
                        return Err(self.error(BodyErrorKind::TooDeep));
                    }
                    self.pos += 1;
                    self.ws();
                    let close = if bracket == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        open.push(bracket);
                        if bracket == b'{' {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string(false)?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.syntax()),
            }
            // After a value: a comma, or the end of containers.
            loop {
                let Some(&top) = open.last() else {
                    return Ok(());
                };
                self.ws();
                match (top, self.peek()) {
                    (_, Some(b',')) => {
                        self.pos += 1;
                        if top == b'{' {
                            self.key()?;
                        }
                        break;
                    }
                    (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                        self.pos += 1;
                        open.pop();
                    }
                    _ => return Err(self.syntax()),
                }
            }
        }
    }

    /// A member name and its colon, below the levels whose names are checked.
    fn key(&mut self) -> Result<(), BodyError> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.syntax());
        }
        self.string(false)?;
        self.eat(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), BodyError> {
        match self.bytes.get(self.pos..self.pos + word.len()) {
            Some(found) if found == word => {
                self.pos += word.len();
                Ok(())
            }
            _ => Err(self.syntax()),
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), BodyError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), BodyError> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(self.syntax())
        } else {
            Ok(())
        }
    }

    /// A string at `"`: decoded when `decode`, else only checked. The input is valid UTF-8
    /// (checked first), so bytes other than escapes are copied as they are.
    fn string(&mut self, decode: bool) -> Result<Option<String>, BodyError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.syntax());
            };
            match byte {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?
                        }
                        Some(letter) => {
                            let c = match letter {
                                b'"' => '"',
                                b'\\' => '\\',
                                b'/' => '/',
                                b'b' => '\u{8}',
                                b'f' => '\u{c}',
                                b'n' => '\n',
                                b'r' => '\r',
                                b't' => '\t',
                                _ => return Err(self.syntax()),
                            };
                            self.pos += 1;
                            c
                        }
                        None => return Err(self.syntax()),
                    };
                    if decode {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                    }
                }
                0x00..=0x1f => return Err(self.syntax()),
                _ => {
                    self.pos += 1;
                    if decode {
                        out.push(byte);
                    }
                }
            }
        }
        if !decode {
            return Ok(None);
        }
        String::from_utf8(out)
            .map(Some)
            .map_err(|_| self.error(BodyErrorKind::NotUtf8))
    }

    /// The four hex digits after `\u` (and a second escape for a surrogate pair), leaving
    /// the position after them.
    fn unicode_escape(&mut self) -> Result<char, BodyError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.syntax());
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.syntax());
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.syntax()),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.syntax())
    }

    fn hex4(&mut self) -> Result<u32, BodyError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(d @ b'0'..=b'9') => d - b'0',
                Some(d @ b'a'..=b'f') => d - b'a' + 10,
                Some(d @ b'A'..=b'F') => d - b'A' + 10,
                _ => return Err(self.syntax()),
            };
            value = value * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(body: &str) -> BodyErrorKind {
        match read(body.as_bytes(), 32) {
            Err(error) => error.kind(),
            Ok(message) => panic!("{body} was read as {message:?}"),
        }
    }

    fn call(tool: &str) -> Message {
        Message::ToolCall(tool.to_owned())
    }

    #[test]
    fn each_refusal_has_its_code_and_json_rpc_error() {
        use BodyErrorKind::*;
        let kinds = [
            (TooLarge, "body_too_large", -32600),
            (Unreadable, "body_unreadable", -32600),
            (NotUtf8, "body_not_utf8", -32700),
            (NotJson, "body_not_json", -32700),
            (Batch, "body_batch", -32600),
            (NotAnObject, "body_not_an_object", -32600),
            (TooDeep, "body_too_deep", -32700),
            (DuplicateMember, "body_duplicate_member", -32600),
            (MethodNotString, "body_method_not_string", -32600),
            (Ambiguous, "body_ambiguous", -32600),
            (ToolNameMissing, "body_tool_name_missing", -32600),
        ];
        for (kind, code, json_rpc) in kinds {
            assert_eq!(kind.code(), code);
            assert_eq!(kind.json_rpc_code(), json_rpc, "{code}");
        }
    }

    #[test]
    fn a_tools_call_names_its_tool() {
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"write_note","arguments":{"text":"hi"}}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("write_note")));
    }

    #[test]
    fn unicode_escapes_read_in_either_case() {
        let body = r#"{"method":"tools/call","params":{"name":"write\u005Fnote\u00C9\u00e9"}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("write_noteÉé")));
    }

    #[test]
    fn method_after_params_is_read_the_same() {
        let body = r#"{"params":{"arguments":{},"name":"write_note"},"id":1,"method":"tools/call","jsonrpc":"2.0"}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("write_note")));
    }

    #[test]
    fn escaped_names_and_values_are_decoded() {
        let body = r#"{"m\u0065thod":"tools\/call","params":{"n\u0061me":"write\u005fnote"}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("write_note")));
        let body = r#"{"method":"tools/call","params":{"name":"\ud83d\ude00 \u00e9"}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("\u{1f600} \u{e9}")));
    }

    #[test]
    fn other_methods_and_responses_are_told_apart() {
        for (body, method) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
                Some("initialize"),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Some("notifications/initialized"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
                Some("tools/list"),
            ),
            (r#"{"jsonrpc":"2.0","id":3,"result":{}}"#, None),
            (" \t\r\n{}\n", None),
        ] {
            assert_eq!(
                read(body.as_bytes(), 32),
                Ok(Message::Other(method.map(str::to_owned))),
                "{body}"
            );
        }
    }

    #[test]
    fn a_tools_call_hidden_in_a_string_is_not_a_call() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"\"method\":\"tools/call\",\"params\":{\"name\":\"write_note\"}"}}"#;
        assert_eq!(
            read(body.as_bytes(), 32),
            Ok(Message::Other(Some("tools/list".to_owned())))
        );
        let body = r#"{"id":"{\"method\":\"tools/call\"}","method":"ping"}"#;
        assert_eq!(
            read(body.as_bytes(), 32),
            Ok(Message::Other(Some("ping".to_owned())))
        );
    }

    #[test]
    fn duplicate_members_are_refused_escaped_or_not() {
        for body in [
            r#"{"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#,
            r#"{"method":"tools/call","m\u0065thod":"tools/list","params":{"name":"x"}}"#,
            r#"{"method":"tools/call","params":{"name":"read","name":"write_note"}}"#,
            r#"{"method":"tools/call","params":{"name":"read","\u006eame":"write_note"}}"#,
            r#"{"method":"tools/call","params":{"name":"x"},"params":{"name":"y"}}"#,
            r#"{"id":1,"id":2,"method":"ping"}"#,
        ] {
            assert_eq!(kind(body), BodyErrorKind::DuplicateMember, "{body}");
        }
        // Below `params`, members are the tool's business.
        let body = r#"{"method":"tools/call","params":{"name":"x","arguments":{"a":1,"a":2}}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("x")));
    }

    #[test]
    fn batches_and_non_objects_are_refused() {
        assert_eq!(
            kind(r#"[{"method":"tools/call","params":{"name":"x"}}]"#),
            BodyErrorKind::Batch
        );
        assert_eq!(kind("[]"), BodyErrorKind::Batch);
        for body in [r#""tools/call""#, "7", "null", "true"] {
            assert_eq!(kind(body), BodyErrorKind::NotAnObject, "{body}");
        }
    }

    #[test]
    fn anything_that_is_not_one_json_value_is_refused() {
        for body in [
            "",
            "   ",
            "{",
            r#"{"method":"tools/call","params":{"name":"x"}"#,
            r#"{"method":"tools/call","params":{"name":"x"}}}"#,
            r#"{"method":"tools/call","params":{"name":"x"}} {}"#,
            r#"{"method":"tools/call","params":{"name":"x"},}"#,
            r#"{"method":"tools/call" "params":{}}"#,
            r#"{method:"tools/call"}"#,
            r#"{'method':'tools/call'}"#,
            "\u{feff}{}",
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":NaN}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":"\x41"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":trux}"#,
            r#"{"a":nul}"#,
            r#"{"a":fals3}"#,
            "{\"a\":1}\u{0}",
            "{\u{a0}}",
        ] {
            assert_eq!(kind(body), BodyErrorKind::NotJson, "{body:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        let mut body = br#"{"method":"tools/call","params":{"name":"wr"#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}}"#);
        assert_eq!(
            read(&body, 32).map_err(|e| e.kind()),
            Err(BodyErrorKind::NotUtf8)
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let deep = |levels: usize| {
            format!(
                r#"{{"method":"tools/call","params":{{"name":"x","arguments":{}1{}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // The message is level 1, `params` 2, `arguments` 3 and on.
        assert_eq!(read(deep(30).as_bytes(), 32), Ok(call("x")));
        assert_eq!(kind(&deep(31)), BodyErrorKind::TooDeep);
        let objects = format!("{}{}", r#"{"a":"#.repeat(33), "}".repeat(33));
        assert_eq!(kind(&objects), BodyErrorKind::TooDeep);
        // Objects alone: 32 levels are read, 33 are not.
        let nested = |levels: usize| {
            format!(
                "{}{{}}{}",
                r#"{"a":"#.repeat(levels - 1),
                "}".repeat(levels - 1)
            )
        };
        assert_eq!(read(nested(32).as_bytes(), 32), Ok(Message::Other(None)));
        assert_eq!(kind(&nested(33)), BodyErrorKind::TooDeep);
        assert_eq!(
            read(br#"{"method":"tools/call","params":{"name":"x"}}"#, 1).map_err(|e| e.kind()),
            Err(BodyErrorKind::TooDeep)
        );
        // `params` is level 2: the smallest limit reads it.
        assert_eq!(
            read(br#"{"method":"tools/call","params":{"name":"x"}}"#, 2),
            Ok(call("x"))
        );
        // A million brackets cost a failed read, not a stack.
        let huge = "[".repeat(1_000_000);
        assert_eq!(kind(&format!(r#"{{"a":{huge}}}"#)), BodyErrorKind::TooDeep);
    }

    #[test]
    fn a_tools_call_must_name_its_tool_in_params() {
        for body in [
            r#"{"method":"tools/call"}"#,
            r#"{"method":"tools/call","params":{}}"#,
            r#"{"method":"tools/call","name":"write_note","params":{}}"#,
            r#"{"method":"tools/call","params":{"arguments":{"name":"write_note"}}}"#,
            r#"{"method":"tools/call","params":["write_note",{}]}"#,
            r#"{"method":"tools/call","params":{"name":7}}"#,
            r#"{"method":"tools/call","params":{"name":null}}"#,
            r#"{"method":"tools/call","params":{"name":["write_note"]}}"#,
            r#"{"method":"tools/call","params":"write_note"}"#,
        ] {
            assert_eq!(kind(body), BodyErrorKind::ToolNameMissing, "{body}");
        }
    }

    #[test]
    fn a_method_that_is_not_a_string_is_refused() {
        for body in [
            r#"{"method":["tools/call"],"params":{"name":"x"}}"#,
            r#"{"method":null}"#,
            r#"{"method":{"name":"tools/call"}}"#,
        ] {
            assert_eq!(kind(body), BodyErrorKind::MethodNotString, "{body}");
        }
    }

    #[test]
    fn a_request_that_is_also_a_response_is_ambiguous() {
        assert_eq!(
            kind(r#"{"id":1,"result":{},"method":"tools/call","params":{"name":"x"}}"#),
            BodyErrorKind::Ambiguous
        );
        assert_eq!(
            kind(r#"{"id":1,"method":"ping","error":{"code":1}}"#),
            BodyErrorKind::Ambiguous
        );
    }

    #[test]
    fn errors_say_where_but_never_what() {
        let error = read(
            br#"{"method":"tools/call","params":{"name":"secret",}}"#,
            32,
        )
        .unwrap_err();
        assert_eq!(error.kind(), BodyErrorKind::NotJson);
        assert_eq!(error.offset(), Some(49));
        assert!(!error.to_string().contains("secret"));
        assert_eq!(
            error.to_string(),
            "the message body is not one JSON value (at byte 49)"
        );
    }

    #[test]
    fn every_json_value_kind_is_skipped_in_arguments() {
        let body = r#"{"method":"tools/call","params":{"name":"x","arguments":{"s":"a\"\\\/\b\f\n\r\t\u00e9","n":[0,-1,2.5,-0.0e+10,1E-3],"b":[true,false,null],"o":{"":{}},"e":[[],{}]}}}"#;
        assert_eq!(read(body.as_bytes(), 32), Ok(call("x")));
    }

    /// What serde_json (the parser MCP servers such as rmcp read messages with) makes of
    /// `body`: its method and `params.name`, if it parses.
    fn serde_reading(body: &str) -> Option<(Option<String>, Option<String>)> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let method = value
            .get("method")
            .and_then(|m| m.as_str())
            .map(str::to_owned);
        let name = value
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_owned);
        Some((method, name))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Whatever this parser accepts, serde_json reads the same way: the same method, and
        /// for a `tools/call` the same tool. A body read differently by the two would let a
        /// call through under another tool's requirement.
        #[test]
        fn what_is_accepted_is_read_as_serde_json_reads_it(
            members in proptest::collection::vec((0usize..KEYS.len(), 0usize..VALUES.len()), 0..6),
            space in 0usize..3,
        ) {
            let gap = [" ", "", "\n\t"][space];
            let body = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{gap}{}{gap}:{gap}{}", KEYS[*k], VALUES[*v]))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if let Ok(message) = read(body.as_bytes(), 32) {
                let (method, name) = serde_reading(&body).expect("serde_json parses it too");
                match message {
                    Message::ToolCall(tool) => {
                        proptest::prop_assert_eq!(method.as_deref(), Some("tools/call"));
                        proptest::prop_assert_eq!(name, Some(tool));
                    }
                    Message::Other(m) => proptest::prop_assert_eq!(method, m),
                }
            }
        }
    }

    const KEYS: &[&str] = &[
        r#""method""#,
        r#""m\u0065thod""#,
        r#""params""#,
        r#""p\u0061rams""#,
        r#""name""#,
        r#""id""#,
        r#""jsonrpc""#,
        r#""x""#,
        r#""result""#,
    ];

    const VALUES: &[&str] = &[
        r#""tools/call""#,
        r#""tools\/call""#,
        r#""tools/c\u0061ll""#,
        r#""tools/list""#,
        r#""write_note""#,
        r#"{"name":"write_note"}"#,
        r#"{"n\u0061me":"write_note","arguments":{"name":"list_notes"}}"#,
        r#"{"name":"list_notes","name":"write_note"}"#,
        r#"{"arguments":{"name":"write_note"}}"#,
        r#"["write_note"]"#,
        r#"{"name":"wr\u0069te_note","x":[{"method":"tools/list"}]}"#,
        r#""\"method\":\"tools/list\"""#,
        r#"{"cursor":"\"params\":{\"name\":\"x\"}"}"#,
        r#"null"#,
        r#"7"#,
        r#"{}"#,
    ];
}
