//! Escaping and a tiny HTML writer.
//!
//! Text and attribute values go through [`escape`] and nothing else, JSON data blocks
//! through [`escape_json`]; the only way to write markup as is takes a `&'static
//! str`, so it holds the page's own constants (the doctype, the style sheet, the
//! `form_post` and `web_message` scripts) and never request data.

/// Appends `text` to `out` with `& < > " '` replaced by character references: safe in
/// element content and in double- or single-quoted attribute values alike.
pub(super) fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Appends serialized JSON to `out` with `<`, `>` and `&` written as `\u003c`,
/// `\u003e` and `\u0026`: the same value to `JSON.parse`, and safe as the content
/// of a `<script type="application/json">` element, which no value can then end
/// (`</script>`) or turn into a comment (`<!--`). Outside strings JSON has none of
/// the three, and inside them a `\u` escape reads as the character itself.
pub(super) fn escape_json(out: &mut String, json: &str) {
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
}

/// An attribute: a name written by the page (a literal) and a value that is escaped.
pub(super) type Attr<'a> = (&'static str, &'a str);

/// A document under construction.
#[derive(Debug, Default)]
pub(super) struct Html {
    out: String,
}

impl Html {
    /// An empty document.
    pub(super) fn new() -> Self {
        Self { out: String::with_capacity(4096) }
    }

    /// Writes the page's own markup as is. Only a `&'static str` fits, so request data
    /// cannot come this way.
    pub(super) fn markup(&mut self, markup: &'static str) {
        self.out.push_str(markup);
    }

    /// `<tag name="value" ...>`. An empty value is written as the bare name
    /// (`required`), which HTML reads as the same empty string.
    pub(super) fn start(&mut self, tag: &'static str, attrs: &[Attr<'_>]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            if !value.is_empty() {
                self.out.push_str("=\"");
                escape(&mut self.out, value);
                self.out.push('"');
            }
        }
        self.out.push('>');
    }

    /// `</tag>`.
    pub(super) fn end(&mut self, tag: &'static str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Escaped text.
    pub(super) fn text(&mut self, text: &str) {
        escape(&mut self.out, text);
    }

    /// `<tag ...>text</tag>`, the text escaped.
    pub(super) fn element(&mut self, tag: &'static str, attrs: &[Attr<'_>], text: &str) {
        self.start(tag, attrs);
        self.text(text);
        self.end(tag);
    }

    /// `<script type="application/json" id="id">` holding `value`, escaped by
    /// [`escape_json`]: a data block the browser never runs.
    pub(super) fn json_script(&mut self, id: &'static str, value: &serde_json::Value) {
        self.start("script", &[("type", "application/json"), ("id", id)]);
        escape_json(&mut self.out, &value.to_string());
        self.end("script");
    }

    /// The document's text.
    pub(super) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_special_character() {
        let mut out = String::new();
        escape(&mut out, r#"a&b<c>d"e'f"#);
        assert_eq!(out, "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    }

    #[test]
    fn escape_keeps_other_text_including_non_ascii() {
        let mut out = String::new();
        escape(&mut out, "Grüße, ça va\u{a0}? 日本");
        assert_eq!(out, "Grüße, ça va\u{a0}? 日本");
    }

    #[test]
    fn attribute_values_and_text_are_escaped() {
        let mut html = Html::new();
        html.element("p", &[("title", r#"" onclick="x"#)], "<script>&'");
        assert_eq!(
            html.finish(),
            "<p title=\"&quot; onclick=&quot;x\">&lt;script&gt;&amp;&#39;</p>"
        );
    }

    #[test]
    fn escape_json_hides_what_could_end_the_element_and_keeps_the_value() {
        let value = serde_json::json!({ "state": "</script><script>alert(1)</script><!--&\\<" });
        let mut html = Html::new();
        html.json_script("response", &value);
        let out = html.finish();
        let inner = out
            .strip_prefix("<script type=\"application/json\" id=\"response\">")
            .and_then(|rest| rest.strip_suffix("</script>"))
            .unwrap();
        assert!(!inner.contains(['<', '>', '&']), "{inner}");
        assert!(inner.contains("\\u003c/script\\u003e"), "{inner}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(inner).unwrap(), value);
    }

    #[test]
    fn an_empty_value_is_a_bare_attribute() {
        let mut html = Html::new();
        html.start("input", &[("name", "a"), ("required", "")]);
        assert_eq!(html.finish(), "<input name=\"a\" required>");
    }
}
