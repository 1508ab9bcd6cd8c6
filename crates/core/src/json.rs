//! JSON for the verifier and the relying party: a strict reader that builds each
//! type it reads directly, and a writer for the few documents they produce.
//!
//! Why not `serde_json` here: the browser package compiles this path to wasm, and
//! `serde_json` with serde's derived visitors and their error messages (which
//! format floats and escape strings) was more than half of its size. This reader
//! has no error detail, no floats and no per-type visitor machinery; each type
//! lists its members in a `Read` impl beside its definition. The issuer keeps
//! `serde_json` for everything else, and the same types keep their serde derives.
//!
//! The reader accepts exactly what `serde_json` accepts for the same derived type
//! (property tests compare the two on generated and mutated documents):
//! RFC 8259 syntax with only space, tab, CR and LF as whitespace; members in any
//! order; an unknown member skipped, but still checked to be JSON; a repeated
//! member refused; `null` for an optional member read as absent; strings with
//! valid escapes (paired surrogates) and valid UTF-8; `u64` members as plain
//! integers (no sign, fraction or exponent) that fit; nothing after the value but
//! whitespace. Two serde quirks are left out on purpose: a struct is never read
//! from an array of its members in order, and an enum never from a one-member
//! object.

/// A document is not the JSON the caller expected. Carries no detail on purpose: it
/// is never shown to anyone but a developer, and the detail would cost code size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not the expected JSON")
    }
}

impl std::error::Error for Invalid {}

/// What reading returns.
pub(crate) type Result<T> = std::result::Result<T, Invalid>;

/// A type read from JSON.
pub(crate) trait Read: Sized {
    /// Reads one value of the type at the reader's position.
    fn read(r: &mut Reader<'_>) -> Result<Self>;
}

/// Reads a whole document as a `T`: one value, then nothing but whitespace.
pub(crate) fn from_slice<T: Read>(bytes: &[u8]) -> Result<T> {
    let mut r = Reader::new(bytes);
    let value = T::read(&mut r)?;
    r.end()?;
    Ok(value)
}

/// Sets a member's slot the first time it is seen: a repeated member is refused, as
/// serde's derived structs do.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Invalid);
    }
    *slot = Some(value);
    Ok(())
}

/// A position in a JSON document.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Succeeds when nothing but whitespace is left.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Invalid),
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(*b);
            }
            self.pos += 1;
        }
        None
    }

    /// The next byte, consumed (no whitespace skipped).
    fn next(&mut self) -> Result<u8> {
        let b = *self.bytes.get(self.pos).ok_or(Invalid)?;
        self.pos += 1;
        Ok(b)
    }

    /// Consumes `byte` after whitespace.
    fn eat(&mut self, byte: u8) -> Result<()> {
        if self.peek() != Some(byte) {
            return Err(Invalid);
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes `word` (a literal's remaining letters).
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        for expected in word {
            if self.next()? != *expected {
                return Err(Invalid);
            }
        }
        Ok(())
    }

    /// Whether the next value is `null`; if so it is consumed.
    pub(crate) fn null(&mut self) -> Result<bool> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.pos += 1;
        self.literal(b"ull")?;
        Ok(true)
    }

    /// Whether the next value is a string (not consumed).
    pub(crate) fn at_string(&mut self) -> bool {
        self.peek() == Some(b'"')
    }

    /// An object: `member` is called with each key and must read (or
    /// [`skip`](Self::skip)) its value.
    pub(crate) fn object(
        &mut self,
        member: &mut dyn FnMut(&mut Self, &str) -> Result<()>,
    ) -> Result<()> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.string_body()?;
            self.eat(b':')?;
            member(self, &key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// An array: `element` is called for each element and must read it.
    pub(crate) fn array(&mut self, element: &mut dyn FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// The text of the next value, checked and skipped.
    pub(crate) fn raw(&mut self) -> Result<&'a [u8]> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        self.bytes.get(start..self.pos).ok_or(Invalid)
    }

    /// A string's content after its opening quote, unescaped, as UTF-8.
    fn string_body(&mut self) -> Result<String> {
        let mut out = Vec::new();
        self.string_into(Some(&mut out))?;
        String::from_utf8(out).map_err(|_| Invalid)
    }

    /// Reads a string's content after its opening quote, through its closing one.
    /// With `out`, unescapes into it and refuses unpaired surrogates (as serde_json
    /// does for a string it keeps); without, only checks the escapes' shape (as it
    /// does for a string it skips).
    fn string_into(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<()> {
        loop {
            let b = self.next()?;
            let plain = match b {
                b'"' => return Ok(()),
                0..=0x1f => return Err(Invalid),
                b'\\' => match self.next()? {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        let unit = self.hex4()?;
                        if let Some(out) = out.as_deref_mut() {
                            let c = self.code_point(unit)?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        continue;
                    }
                    _ => return Err(Invalid),
                },
                other => other,
            };
            if let Some(out) = out.as_deref_mut() {
                out.push(plain);
            }
        }
    }

    /// The character a `\u` escape starts, reading the low surrogate that must
    /// follow a high one.
    fn code_point(&mut self, unit: u16) -> Result<char> {
        let code = match unit {
            0xd800..=0xdbff => {
                self.literal(b"\\u")?;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(Invalid);
                }
                0x1_0000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
            }
            _ => u32::from(unit),
        };
        char::from_u32(code).ok_or(Invalid)
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let digit = char::from(self.next()?).to_digit(16).ok_or(Invalid)?;
            n = n << 4 | u16::try_from(digit).map_err(|_| Invalid)?;
        }
        Ok(n)
    }

    /// A number's digits `[0-9]+`, at least one.
    fn digits(&mut self) -> Result<()> {
        if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Err(Invalid);
        }
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        Ok(())
    }

    /// A number of any kind, checked and skipped (its first byte already consumed
    /// when it is a digit or `-`).
    fn skip_number(&mut self, first: u8) -> Result<()> {
        let first = if first == b'-' { self.next()? } else { first };
        match first {
            b'0' => {
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(Invalid);
                }
            }
            b'1'..=b'9' => {
                while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
            }
            _ => return Err(Invalid),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    /// Any value, checked and skipped, at any depth (without recursion).
    pub(crate) fn skip(&mut self) -> Result<()> {
        // The containers entered: true for an object.
        let mut open: Vec<bool> = Vec::new();
        loop {
            let first = self.peek().ok_or(Invalid)?;
            self.pos += 1;
            let mut after_value = true;
            match first {
                b'n' => self.literal(b"ull")?,
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'"' => self.string_into(None)?,
                b'-' | b'0'..=b'9' => self.skip_number(first)?,
                b'[' | b'{' => {
                    let object = first == b'{';
                    open.push(object);
                    after_value = false;
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        open.pop();
                        after_value = true;
                    } else if object {
                        self.skip_key()?;
                    }
                }
                _ => return Err(Invalid),
            }
            if !after_value {
                continue;
            }
            // After a value: close containers, or go on to the next element.
            loop {
                let Some(&object) = open.last() else { return Ok(()) };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {}
                    Some(b']') if !object => {}
                    _ => return Err(Invalid),
                }
                self.pos += 1;
                open.pop();
            }
        }
    }

    /// A skipped object's key and its colon.
    fn skip_key(&mut self) -> Result<()> {
        self.eat(b'"')?;
        self.string_into(None)?;
        self.eat(b':')
    }
}

impl Read for String {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.eat(b'"')?;
        r.string_body()
    }
}

impl Read for u64 {
    /// A plain integer that fits: what serde_json reads into a `u64`.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let first = r.peek().ok_or(Invalid)?;
        r.pos += 1;
        let mut n = u64::from(first.wrapping_sub(b'0'));
        match first {
            b'0' => {}
            b'1'..=b'9' => {
                while let Some(d) = r.bytes.get(r.pos).filter(|b| b.is_ascii_digit()) {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d - b'0')))
                        .ok_or(Invalid)?;
                    r.pos += 1;
                }
            }
            _ => return Err(Invalid),
        }
        // A leading zero, a fraction or an exponent: not a plain integer.
        match r.bytes.get(r.pos) {
            Some(b'0'..=b'9' | b'.' | b'e' | b'E') => Err(Invalid),
            _ => Ok(n),
        }
    }
}

impl Read for bool {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let first = r.peek().ok_or(Invalid)?;
        r.pos += 1;
        match first {
            b't' => r.literal(b"rue").map(|()| true),
            b'f' => r.literal(b"alse").map(|()| false),
            _ => Err(Invalid),
        }
    }
}

impl<T: Read> Read for Option<T> {
    /// `null` is `None`.
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        if r.null()? { Ok(None) } else { T::read(r).map(Some) }
    }
}

impl<T: Read> Read for Vec<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut all = Vec::new();
        r.array(&mut |r| {
            all.push(T::read(r)?);
            Ok(())
        })?;
        Ok(all)
    }
}

/// `n` in decimal, appended to `out`, without the formatting machinery (which the
/// browser package leaves out).
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is a single digit.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (rest % 10) as u8;
        if let Some(slot) = digits.get_mut(at) {
            *slot = b'0' + digit;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    for &d in digits.get(at..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

/// A JSON object being written, members in the order given.
#[derive(Debug)]
pub struct Writer(String);

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        quote(&mut self.0, key);
        self.0.push(':');
    }

    /// A string member.
    #[must_use]
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        quote(&mut self.0, value);
        self
    }

    /// A string member, `null` when absent (as serde writes an `Option`).
    #[must_use]
    pub fn optional_string(mut self, key: &str, value: Option<&str>) -> Self {
        self.key(key);
        match value {
            Some(value) => quote(&mut self.0, value),
            None => self.0.push_str("null"),
        }
        self
    }

    /// An integer member.
    #[must_use]
    pub fn number(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        push_decimal(&mut self.0, value);
        self
    }

    /// An integer member, `null` when absent.
    #[must_use]
    pub fn optional_number(self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(n) => self.number(key, n),
            None => self.raw(key, "null"),
        }
    }

    /// A member whose value is already JSON.
    #[must_use]
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.0.push_str(json);
        self
    }

    /// The document.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Appends `value` as a JSON string, escaped as serde_json escapes it.
pub fn quote(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' => {
                let hex = |n: u32| char::from_digit(n, 16).unwrap_or('0');
                out.push_str("\\u00");
                out.push(hex(u32::from(c) >> 4));
                out.push(hex(u32::from(c) & 0xf));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Documents for property tests: JSON objects with a type's members and others,
/// values of every kind (valid or not for the member), then perhaps a few bytes
/// changed; and the check that this reader and serde_json agree on them.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::prelude::*;

    /// Leaf values: the edge cases of numbers, strings, escapes and literals, and
    /// the words the verifier's members take.
    fn leaf() -> impl Strategy<Value = String> {
        let fixed = prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "1",
            "42",
            "1700000000",
            "-1",
            "-0",
            "1.0",
            "1e3",
            "1E+2",
            "0.5e-3",
            "01",
            "-",
            "1.",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901234567890",
            "tru",
            "nul",
            "\"\"",
            "\"ES256\"",
            "\"RS256\"",
            "\"EC\"",
            "\"RSA\"",
            "\"P-256\"",
            "\"sig\"",
            "\"enc\"",
            "\"verify\"",
            "\"JWT\"",
            "\"at+jwt\"",
            "\"Bearer\"",
            "\"web_message\"",
            "\"openid profile\"",
            "\"a  b\"",
            "\"AQAB\"",
            "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"",
            "\"\\u00e9\\n\\t\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\/\\b\\f\\r\\\"\\\\\"",
            "\"tab\there\"",
            "\"\u{e9}t\u{e9}\"",
        ]);
        prop_oneof![
            4 => fixed.prop_map(str::to_owned),
            1 => "[a-z0-9 ]{0,8}".prop_map(|s| format!("\"{s}\"")),
            1 => any::<u64>().prop_map(|n| n.to_string()),
        ]
    }

    /// A key: one of `keys`, sometimes spelled with an escape, or another.
    fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
        let known = prop::sample::select(keys.to_vec());
        prop_oneof![
            6 => known.clone().prop_map(|k| format!("\"{k}\"")),
            1 => known.prop_map(|k| {
                let mut chars = k.chars();
                let first = chars.next().map(u32::from).unwrap_or(0x61);
                format!("\"\\u{first:04x}{}\"", chars.as_str())
            }),
            1 => prop::sample::select(vec!["\"other\"", "\"\"", "\"\\ud800\"", "\"x\\u0000\""])
                .prop_map(str::to_owned),
        ]
    }

    /// Any value, nested a few levels.
    fn value(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
        leaf().prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key(keys), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> =
                        members.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// An object with members of `keys` (valid values more often than not) and
    /// others, in any order, some repeated, maybe with whitespace and a few bytes
    /// changed. Most documents also hold the members of `base` (a valid minimal
    /// set, `"name":value` each), so that many are of the type.
    pub(crate) fn document(
        keys: &'static [&'static str],
        good: fn(&str) -> Vec<&'static str>,
        base: &'static [&'static str],
    ) -> impl Strategy<Value = Vec<u8>> {
        let member = key(keys).prop_flat_map(move |k| {
            let name = k.trim_matches('"').to_owned();
            let likely = good(&name);
            let value = if likely.is_empty() {
                value(keys).boxed()
            } else {
                prop_oneof![
                    3 => prop::sample::select(likely).prop_map(str::to_owned),
                    1 => value(keys),
                ]
                .boxed()
            };
            (Just(k), value)
        });
        let members = prop::collection::vec(member, 0..5);
        let object = (members, any::<prop::sample::Index>(), any::<bool>()).prop_map(
            move |(mut before, split, with_base)| {
                let after = before.split_off(split.index(before.len() + 1));
                let mut all: Vec<String> =
                    before.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                if with_base || base.is_empty() {
                    all.extend(base.iter().map(|m| (*m).to_owned()));
                }
                all.extend(after.into_iter().map(|(k, v)| format!("{k}:{v}")));
                format!(" {{{}}}\n", all.join(", "))
            },
        );
        let edit = (
            any::<prop::sample::Index>(),
            0..4u8,
            prop::sample::select(b"{}[]\":,\\0-. x\xff\xe9\x01".to_vec()),
        );
        (object, prop::collection::vec(edit, 0..3), 0..3u8).prop_map(|(text, edits, edit)| {
            let mut bytes = text.into_bytes();
            if edit == 0 {
                for (at, kind, byte) in edits {
                    let i = at.index(bytes.len() + 1);
                    match kind {
                        0 if i < bytes.len() => {
                            bytes.remove(i);
                        }
                        1 if i < bytes.len() => bytes[i] = byte,
                        _ => bytes.insert(i, byte),
                    }
                }
            }
            bytes
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::testing::document;
    use super::*;
    use crate::jose::{Jwk, Jwks};
    use crate::rp::ProviderMetadata;
    use crate::rp::login::PendingLogin;
    use crate::rp::tokens::{Session, TokenResponse};
    use crate::token::Audience;
    use crate::types::UnixTime;
    use crate::verify::{IdTokenClaims, PeekedClaims};

    /// Both readers' verdict on `bytes`.
    fn both<T: Read + serde::de::DeserializeOwned>(bytes: &[u8]) -> (Option<T>, Option<T>) {
        (from_slice::<T>(bytes).ok(), serde_json::from_slice::<T>(bytes).ok())
    }

    fn strings(_: &str) -> Vec<&'static str> {
        vec!["\"s\"", "\"https://id.example.com\"", "null"]
    }

    fn claims(key: &str) -> Vec<&'static str> {
        match key {
            "aud" => vec!["\"spa\"", "[\"spa\",\"api\"]", "[]", "[\"a\",1]"],
            "exp" | "iat" | "auth_time" => vec!["1700000000", "0", "null"],
            "amr" => vec!["[\"pwd\"]", "[]", "null"],
            _ => strings(key),
        }
    }

    fn jwk(key: &str) -> Vec<&'static str> {
        match key {
            "kty" => vec!["\"EC\"", "\"RSA\"", "\"oct\""],
            "alg" => vec!["\"ES256\"", "\"RS256\"", "\"PS256\"", "null"],
            "use" => vec!["\"sig\"", "\"enc\"", "null"],
            "key_ops" => vec!["[\"verify\"]", "[\"sign\",\"verify\"]", "[]", "null"],
            _ => strings(key),
        }
    }

    fn jwks(key: &str) -> Vec<&'static str> {
        match key {
            "keys" => vec![
                "[]",
                "[{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]",
                "[{\"kty\":\"oct\"},{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":\"r\"}]",
                "[{\"kty\":\"RSA\",\"use\":\"enc\"},{\"kty\":\"EC\",\"kid\":\"\\ud800\"},1,null]",
                "[{\"kty\":\"EC\",\"kid\":\"k\",\"kid\":\"k\"},[1,{\"a\":[]}],\"\u{e9}\"]",
            ],
            _ => strings(key),
        }
    }

    fn metadata(key: &str) -> Vec<&'static str> {
        match key {
            "authorization_response_iss_parameter_supported" => vec!["true", "false", "null"],
            "response_modes_supported" => vec!["[\"query\",\"web_message\"]", "[]", "null"],
            _ => strings(key),
        }
    }

    fn numbers(key: &str) -> Vec<&'static str> {
        match key {
            "expires_in" | "expires_at" | "started_at" | "max_age" => vec!["300", "0", "null"],
            _ => strings(key),
        }
    }

    const CLAIMS: &[&str] = &[
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "azp",
        "at_hash",
        "sid",
        "acr",
        "amr",
    ];
    const JWK: &[&str] = &["kty", "kid", "alg", "use", "key_ops", "crv", "x", "y", "n", "e"];
    const METADATA: &[&str] = &[
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "authorization_response_iss_parameter_supported",
        "response_modes_supported",
    ];
    const TOKEN_RESPONSE: &[&str] =
        &["access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"];
    const PENDING: &[&str] =
        &["state", "nonce", "code_verifier", "redirect_uri", "started_at", "max_age"];
    const SESSION: &[&str] =
        &["access_token", "expires_at", "refresh_token", "id_token", "claims", "scope"];

    const CLAIMS_BASE: &[&str] =
        &["\"iss\":\"i\"", "\"sub\":\"u\"", "\"aud\":\"spa\"", "\"exp\":9", "\"iat\":1"];
    const JWK_BASE: &[&str] = &["\"kty\":\"EC\""];
    const METADATA_BASE: &[&str] = &[
        "\"issuer\":\"i\"",
        "\"authorization_endpoint\":\"a\"",
        "\"token_endpoint\":\"t\"",
        "\"jwks_uri\":\"j\"",
    ];
    const TOKEN_RESPONSE_BASE: &[&str] = &["\"access_token\":\"a\"", "\"token_type\":\"Bearer\""];
    const PENDING_BASE: &[&str] = &[
        "\"state\":\"s\"",
        "\"nonce\":\"n\"",
        "\"code_verifier\":\"v\"",
        "\"redirect_uri\":\"r\"",
        "\"started_at\":1",
    ];
    const SESSION_BASE: &[&str] =
        &["\"access_token\":\"a\"", "\"expires_at\":1", "\"id_token\":\"t\"", "\"claims\":\"{}\""];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn id_token_claims_read_as_serde_reads_them(doc in document(CLAIMS, claims, CLAIMS_BASE)) {
            let (ours, serde) = both::<IdTokenClaims>(&doc);
            prop_assert_eq!(ours, serde);
            let (ours, serde) = both::<PeekedClaims>(&doc);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn keys_read_as_serde_reads_them(doc in document(JWK, jwk, JWK_BASE)) {
            let (ours, serde) = both::<Jwk>(&doc);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn key_sets_read_as_serde_reads_them(doc in document(&["keys", "other"], jwks, &[])) {
            prop_assert_eq!(from_slice::<Jwks>(&doc).ok(), serde_jwks(&doc));
        }

        #[test]
        fn metadata_reads_as_serde_reads_it(doc in document(METADATA, metadata, METADATA_BASE)) {
            let (ours, serde) = both::<ProviderMetadata>(&doc);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn token_responses_read_as_serde_reads_them(doc in document(TOKEN_RESPONSE, numbers, TOKEN_RESPONSE_BASE)) {
            let (ours, serde) = both::<TokenResponse>(&doc);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn kept_logins_and_sessions_read_as_serde_reads_them(
            pending in document(PENDING, numbers, PENDING_BASE),
            session in document(SESSION, numbers, SESSION_BASE),
        ) {
            let (ours, serde) = both::<PendingLogin>(&pending);
            prop_assert_eq!(ours, serde);
            let (ours, serde) = both::<Session>(&session);
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn any_value_is_skipped_as_serde_skips_it(doc in document(&["a", "b"], strings, &[])) {
            let ours = from_slice::<Skipped>(&doc).is_ok();
            let serde = serde_json::from_slice::<serde::de::IgnoredAny>(&doc).is_ok();
            prop_assert_eq!(ours, serde);
        }

        #[test]
        fn sessions_are_written_as_serde_writes_them(
            text in "\\PC{0,12}|[\\u{0}-\\u{1f}\"\\\\]{0,6}",
            at in any::<u64>(),
            refresh in proptest::option::of("[ -~]{0,8}"),
            max_age in proptest::option::of(any::<u64>()),
        ) {
            let session = Session {
                access_token: text.clone(),
                expires_at: UnixTime::from_secs(at),
                refresh_token: refresh,
                id_token: "a.b.c".into(),
                claims: text.clone(),
                scope: None,
            };
            prop_assert_eq!(session.to_json(), serde_json::to_string(&session).unwrap());
            prop_assert_eq!(Session::from_json(&session.to_json()), Ok(session));
            let pending = PendingLogin {
                state: text.clone(),
                nonce: "n".into(),
                code_verifier: "v".into(),
                redirect_uri: text,
                started_at: UnixTime::from_secs(at),
                max_age,
            };
            prop_assert_eq!(pending.to_json(), serde_json::to_string(&pending).unwrap());
            prop_assert_eq!(PendingLogin::from_json(&pending.to_json()), Ok(pending));
        }
    }

    /// A JWKS as serde reads it, but for a key written as an array of its members
    /// (serde's quirk, see the module documentation), which is skipped.
    fn serde_jwks(doc: &[u8]) -> Option<Jwks> {
        #[derive(serde::Deserialize)]
        struct Raw {
            keys: Vec<Box<serde_json::value::RawValue>>,
        }
        let raw: Raw = serde_json::from_slice(doc).ok()?;
        let objects = raw.keys.into_iter().filter(|key| key.get().starts_with('{'));
        Some(Jwks {
            keys: objects.filter_map(|key| serde_json::from_str(key.get()).ok()).collect(),
        })
    }

    /// Any value, skipped.
    struct Skipped;

    impl Read for Skipped {
        fn read(r: &mut Reader<'_>) -> Result<Self> {
            r.skip().map(|()| Self)
        }
    }

    #[test]
    fn numbers_are_plain_integers_that_fit() {
        for good in ["0", "7", " 1700000000 ", "18446744073709551615"] {
            assert!(from_slice::<u64>(good.as_bytes()).is_ok(), "{good}");
        }
        for bad in ["-0", "-1", "01", "1.0", "1e3", "18446744073709551616", "", "\"1\"", "1 2"] {
            assert_eq!(from_slice::<u64>(bad.as_bytes()), Err(Invalid), "{bad}");
        }
    }

    #[test]
    fn an_audience_is_a_string_or_strings() {
        assert_eq!(from_slice::<Audience>(b"\"a\""), Ok(Audience::one("a")));
        let many = Audience::many(vec!["a".into(), "b".into()]);
        assert_eq!(from_slice::<Audience>(b"[\"a\", \"b\"]"), Ok(many));
        for bad in ["null", "1", "[1]", "{\"a\":1}", "[\"a\",]"] {
            assert_eq!(from_slice::<Audience>(bad.as_bytes()), Err(Invalid), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(from_slice::<Skipped>(deep.as_bytes()).is_ok());
        assert!(from_slice::<Skipped>(deep.trim_end_matches('}').as_bytes()).is_err());
    }

    #[test]
    fn a_struct_is_never_read_from_an_array() {
        // serde_json reads a derived struct from an array of its members in order; the
        // verifier never wanted that, and no issuer writes one.
        assert!(from_slice::<PeekedClaims>(b"[\"aud\", 1]").is_err());
        assert!(serde_json::from_slice::<PeekedClaims>(b"[\"aud\", 1]").is_ok());
    }
}
