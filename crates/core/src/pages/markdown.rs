//! A consent policy's Markdown as escaped HTML: the part of CommonMark a policy
//! needs, read here rather than by a full CommonMark parser, which would add about
//! 68 KB gzipped (an eighth of the issuer) for one page.
//!
//! Blocks: `#` to `######` headings, paragraphs (a line ending in two spaces or a
//! `\` breaks it), `-`, `*`, `+`, `1.` and `1)` lists (one level; an indented line
//! continues its item), `>` quotes, fenced code (three backticks or tildes) and
//! `---`, `***`, `___` rules. Inline: `` `code` ``, `**strong**` and
//! `__strong__`, `*emphasis*` and `_emphasis_`, `[links](url "title")`,
//! `<https://autolinks>`, images and backslash escapes. Anything else (setext
//! headings, indented code, tables, reference links) is text.
//!
//! Everything goes through the page's one escaping [`Html`] writer, and what no
//! policy may bring onto the issuer's pages is never written as markup:
//!
//! - raw HTML, in a block or inline, is shown as text;
//! - a link keeps its tag only for an `http:`, `https:` or `mailto:` address, and
//!   then opens without a referrer or a handle on this page
//!   (`rel="noopener noreferrer"`); any other link (`javascript:`, `data:`, a
//!   relative path) is its text alone;
//! - an image is its description: the pages load nothing a policy names;
//! - headings start one level below the page's own `<h1>`.
//!
//! Work is linear in the text but for links, whose brackets are looked for within
//! [`LINK_REACH`] bytes, and nesting stops at [`MAX_DEPTH`]: an administrator's
//! text cannot make a page slow to draw.

use super::html::Html;

/// How far a link's `]` and `)` are looked for.
const LINK_REACH: usize = 2048;

/// How deep quotes, links and emphasis nest before the rest is text.
const MAX_DEPTH: u8 = 8;

/// Writes `markdown` into `html`.
pub(super) fn render(html: &mut Html, markdown: &str) {
    let lines: Vec<&str> = markdown.lines().collect();
    blocks(html, &lines, 0);
}

/// The kind of a list item's marker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    Bullet(u8),
    Ordered(u8),
}

fn blocks(html: &mut Html, lines: &[&str], depth: u8) {
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            i += 1;
        } else if let Some(fence) = fence(trimmed) {
            i += 1;
            let mut code = String::new();
            while let Some(line) = lines.get(i) {
                i += 1;
                if line.trim_start().starts_with(fence) {
                    break;
                }
                code.push_str(line);
                code.push('\n');
            }
            html.start("pre", &[]);
            html.element("code", &[], &code);
            html.end("pre");
        } else if let Some((tag, text)) = heading(trimmed) {
            html.start(tag, &[]);
            inline(html, text.trim(), depth);
            html.end(tag);
            i += 1;
        } else if is_rule(trimmed) {
            html.markup("<hr>");
            i += 1;
        } else if trimmed.starts_with('>') && depth < MAX_DEPTH {
            let mut quoted = Vec::new();
            while let Some(inner) = lines.get(i).and_then(|l| l.trim_start().strip_prefix('>')) {
                quoted.push(inner.strip_prefix(' ').unwrap_or(inner));
                i += 1;
            }
            html.start("blockquote", &[]);
            blocks(html, &quoted, depth + 1);
            html.end("blockquote");
        } else if let Some((marker, _)) = list_item(trimmed) {
            i = list(html, lines, i, marker, depth);
        } else {
            let start = i;
            i += 1;
            while lines.get(i).is_some_and(|l| continues_paragraph(l)) {
                i += 1;
            }
            html.start("p", &[]);
            inline(html, &lines.get(start..i).unwrap_or_default().join("\n"), depth);
            html.end("p");
        }
    }
}

/// Whether `line` goes on with the paragraph above it.
fn continues_paragraph(line: &str) -> bool {
    let trimmed = line.trim_start();
    !(trimmed.is_empty()
        || fence(trimmed).is_some()
        || heading(trimmed).is_some()
        || is_rule(trimmed)
        || trimmed.starts_with('>')
        || list_item(trimmed).is_some())
}

/// A list from line `i`: its items of the same kind of marker, each item's text
/// with the indented lines that follow it. Returns the line after the list.
fn list(html: &mut Html, lines: &[&str], mut i: usize, marker: Marker, depth: u8) -> usize {
    let mut items: Vec<String> = Vec::new();
    let mut first = None;
    while let Some(line) = lines.get(i) {
        let trimmed = line.trim_start();
        if let Some((next, text)) = list_item(trimmed).filter(|(m, _)| *m == marker) {
            if let Marker::Ordered(_) = next {
                first.get_or_insert_with(|| ordinal(trimmed));
            }
            items.push(text.to_owned());
        } else if trimmed.is_empty() {
            // A blank line ends the list unless another item or an indented line follows.
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let goes_on = list_item(next.trim_start()).is_some_and(|(m, _)| m == marker)
                || (next.starts_with("  ") && !next.trim().is_empty());
            if !goes_on {
                break;
            }
        } else if line.starts_with("  ") || continues_paragraph(line) {
            if let Some(item) = items.last_mut() {
                item.push('\n');
                item.push_str(trimmed);
            }
        } else {
            break;
        }
        i += 1;
    }
    let start = first.filter(|n| n != "1");
    let tag = if let Marker::Ordered(_) = marker { "ol" } else { "ul" };
    match &start {
        Some(n) => html.start(tag, &[("start", n)]),
        None => html.start(tag, &[]),
    }
    for item in &items {
        html.start("li", &[]);
        inline(html, item, depth);
        html.end("li");
    }
    html.end(tag);
    i
}

/// The number of an ordered item (`3.` is `3`), without leading zeros.
fn ordinal(item: &str) -> String {
    let digits: &str = item.split(['.', ')']).next().unwrap_or_default();
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() }
}

/// A list item's marker and its text: `- x`, `* x`, `+ x`, `12. x`, `12) x`.
fn list_item(line: &str) -> Option<(Marker, &str)> {
    let bytes = line.as_bytes();
    match bytes.first()? {
        b @ (b'-' | b'*' | b'+') => {
            let text = line.get(1..)?.strip_prefix([' ', '\t'])?;
            (!is_rule(line)).then_some((Marker::Bullet(*b), text))
        }
        b'0'..=b'9' => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            let delimiter = *bytes.get(digits)?;
            if digits > 9 || !matches!(delimiter, b'.' | b')') {
                return None;
            }
            let text = line.get(digits + 1..)?.strip_prefix([' ', '\t'])?;
            Some((Marker::Ordered(delimiter), text))
        }
        _ => None,
    }
}

/// A fence's opening (three or more backticks or tildes): what closes it.
fn fence(line: &str) -> Option<&'static str> {
    if line.starts_with("```") {
        Some("```")
    } else if line.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

/// An ATX heading: its tag (`#` is the page's `<h2>`, as the page's `<h1>` is the
/// policy's title) and its text, without closing `#`s.
fn heading(line: &str) -> Option<(&'static str, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = line.get(level..)?;
    if level == 0 || level > 6 || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let tag = match level {
        1 => "h2",
        2 => "h3",
        3 => "h4",
        4 => "h5",
        _ => "h6",
    };
    let text = rest.trim_end();
    let closed = text.trim_end_matches('#');
    let text = if closed.is_empty() || closed.ends_with([' ', '\t']) { closed } else { text };
    Some((tag, text))
}

/// `---`, `***` or `___` (three or more, spaces allowed between).
fn is_rule(line: &str) -> bool {
    let mut marks = line.bytes().filter(|b| !matches!(b, b' ' | b'\t'));
    let Some(first @ (b'-' | b'*' | b'_')) = marks.next() else {
        return false;
    };
    let mut count = 1;
    for b in marks {
        if b != first {
            return false;
        }
        count += 1;
    }
    count >= 3
}

/// Whether a link may keep its address: absolute `http`, `https` or `mailto`.
fn allowed_link(url: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|scheme| {
        url.get(..scheme.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// Inline text: what [`Inline`] reads, written into `html`.
fn inline(html: &mut Html, text: &str, depth: u8) {
    let mut reader = Inline { html, text: String::new() };
    reader.run(text, depth);
    reader.flush();
}

/// The inline reader, with the text not yet written.
struct Inline<'h> {
    html: &'h mut Html,
    text: String,
}

impl Inline<'_> {
    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.html.text(&self.text);
            self.text.clear();
        }
    }

    fn run(&mut self, src: &str, depth: u8) {
        let bytes = src.as_bytes();
        // Which emphasis closers may still be found in `src` (`*`, `**`, `_`, `__`):
        // once a search from one place failed, one from further on fails too.
        let mut closers = [true; 4];
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let rest = src.get(i..).unwrap_or_default();
            let consumed = match b {
                b'\\' => self.escape(rest),
                b'`' => self.code(rest),
                b'\n' => Some(self.line_break()),
                b'!' if rest.starts_with("![") => self.image(rest),
                b'[' if depth < MAX_DEPTH => self.link(rest, depth),
                b'<' => self.autolink(rest),
                b'*' | b'_' if depth < MAX_DEPTH => {
                    let before = src.get(..i).and_then(|s| s.chars().next_back());
                    self.emphasis(rest, before, depth, &mut closers)
                }
                _ => None,
            };
            match consumed {
                Some(n) => i += n,
                None => {
                    let c = rest.chars().next().unwrap_or_default();
                    self.text.push(c);
                    i += c.len_utf8().max(1);
                }
            }
        }
    }

    /// `\` before ASCII punctuation is that character; before the line's end, a
    /// break.
    fn escape(&mut self, rest: &str) -> Option<usize> {
        match rest.as_bytes().get(1)? {
            b'\n' => {
                self.flush();
                self.html.markup("<br>");
                Some(2)
            }
            b if b.is_ascii_punctuation() => {
                self.text.push(char::from(*b));
                Some(2)
            }
            _ => None,
        }
    }

    /// A line's end: a break after two spaces, else a plain newline.
    fn line_break(&mut self) -> usize {
        if self.text.ends_with("  ") {
            let kept = self.text.trim_end_matches(' ').len();
            self.text.truncate(kept);
            self.flush();
            self.html.markup("<br>");
        } else {
            let kept = self.text.trim_end_matches(' ').len();
            self.text.truncate(kept);
            self.text.push('\n');
        }
        1
    }

    /// `` `code` ``: a run of backticks up to the next run of the same length.
    fn code(&mut self, rest: &str) -> Option<usize> {
        let run = rest.bytes().take_while(|b| *b == b'`').count();
        let ticks = rest.get(..run)?;
        let mut from = run;
        let end = loop {
            let at = from + rest.get(from..)?.find(ticks)?;
            let after = rest.get(at..)?.bytes().take_while(|b| *b == b'`').count();
            if after == run {
                break at;
            }
            from = at + after;
        };
        let inner = rest.get(run..end)?.replace('\n', " ");
        let inner = match inner.strip_prefix(' ').and_then(|s| s.strip_suffix(' ')) {
            Some(stripped) if !stripped.trim().is_empty() => stripped.to_owned(),
            _ => inner,
        };
        self.flush();
        self.html.element("code", &[], &inner);
        Some(end + run)
    }

    /// `![description](url)`: the description, as text.
    fn image(&mut self, rest: &str) -> Option<usize> {
        let (label, _, _, len) = link_parts(rest.get(1..)?)?;
        self.text.push_str(label);
        Some(len + 1)
    }

    /// `[text](url "title")`: a link for an allowed address, else its text.
    fn link(&mut self, rest: &str, depth: u8) -> Option<usize> {
        let (label, url, title, len) = link_parts(rest)?;
        self.flush();
        if allowed_link(url) {
            let mut attrs = vec![("href", url), ("rel", "noopener noreferrer")];
            if let Some(title) = title {
                attrs.push(("title", title));
            }
            self.html.start("a", &attrs);
            self.run(label, depth + 1);
            self.flush();
            self.html.end("a");
        } else {
            self.run(label, depth + 1);
        }
        Some(len)
    }

    /// `<https://…>` or `<mailto:…>`: a link showing its address.
    fn autolink(&mut self, rest: &str) -> Option<usize> {
        let end = rest.get(..rest.len().min(LINK_REACH))?.find('>')?;
        let url = rest.get(1..end)?;
        if !allowed_link(url) || url.contains([' ', '<', '\n']) {
            return None;
        }
        self.flush();
        self.html.start("a", &[("href", url), ("rel", "noopener noreferrer")]);
        self.html.text(url);
        self.html.end("a");
        Some(end + 1)
    }

    /// `**strong**`, `*emphasis*` (or with `_`): a run that opens before a
    /// non-space, up to a run that closes after one. An `_` run inside a word
    /// (`snake_case`) neither opens nor closes.
    fn emphasis(
        &mut self,
        rest: &str,
        before: Option<char>,
        depth: u8,
        closers: &mut [bool; 4],
    ) -> Option<usize> {
        let mark = *rest.as_bytes().first()?;
        let run = rest.bytes().take_while(|b| *b == mark).count();
        let after = rest.get(run..)?.chars().next()?;
        let in_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        if after.is_whitespace() || (mark == b'_' && in_word(before)) {
            return None;
        }
        let (len, tag) = if run >= 2 { (2, "strong") } else { (1, "em") };
        let slot = usize::from(mark == b'_') * 2 + usize::from(len == 2);
        if !closers.get(slot).copied().unwrap_or(false) {
            return None;
        }
        let Some(close) = closer(rest, mark, len) else {
            if let Some(flag) = closers.get_mut(slot) {
                *flag = false;
            }
            return None;
        };
        self.flush();
        self.html.start(tag, &[]);
        self.run(rest.get(len..close)?, depth + 1);
        self.flush();
        self.html.end(tag);
        Some(close + len)
    }
}

/// Where the run of `len` `mark`s that closes an emphasis opened at the start of
/// `rest` begins: a run of exactly `len` (or, for strong, at least 2) after a
/// non-space, and for `_` not inside a word.
fn closer(rest: &str, mark: u8, len: usize) -> Option<usize> {
    let bytes = rest.as_bytes();
    let mut i = len;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            i += 2;
            continue;
        }
        if b != mark {
            i += 1;
            continue;
        }
        let run = bytes.get(i..)?.iter().take_while(|b| **b == mark).count();
        let before = rest.get(..i).and_then(|s| s.chars().next_back());
        let after = rest.get(i + run..).and_then(|s| s.chars().next());
        let flanks = before.is_some_and(|c| !c.is_whitespace())
            && (mark != b'_' || !after.is_some_and(char::is_alphanumeric));
        let fits = if len == 1 { run == 1 } else { run >= 2 };
        if flanks && fits && i > len {
            return Some(i);
        }
        i += run;
    }
    None
}

/// `[label](url "title")` at the start of `text`: the label, the address, the
/// title and the length read, within [`LINK_REACH`].
fn link_parts(text: &str) -> Option<(&str, &str, Option<&str>, usize)> {
    let window = text.get(..text.len().min(LINK_REACH)).unwrap_or(text);
    let bytes = window.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let close = loop {
        match bytes.get(i)? {
            b'\\' => i += 1,
            b'[' => depth += 1,
            b']' if depth == 1 => break i,
            b']' => depth -= 1,
            _ => {}
        }
        i += 1;
    };
    let label = window.get(1..close)?;
    let inside = window.get(close + 1..)?.strip_prefix('(')?;
    let end = inside.find(')')?;
    let target = inside.get(..end)?.trim();
    let (url, title) = match target.split_once([' ', '\t', '\n']) {
        Some((url, title)) => {
            let title = title.trim();
            let quoted = title
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .or_else(|| title.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))?;
            (url, Some(quoted))
        }
        None => (target, None),
    };
    let url = url.strip_prefix('<').and_then(|u| u.strip_suffix('>')).unwrap_or(url);
    Some((label, url, title, close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html_of(markdown: &str) -> String {
        let mut html = Html::new();
        render(&mut html, markdown);
        html.finish()
    }

    #[test]
    fn headings_lists_emphasis_and_links_are_rendered() {
        let html = html_of(
            "# Terms\n\n## Data\n\nWe keep *little* and **nothing** else.\n\n\
             - one\n- two\n\n3. three\n4. four\n\n\
             See [our site](https://example.com \"home\") or [mail](mailto:a@example.com).\n\n\
             > quoted `code`\n\n```\nfn x() {}\n```\n",
        );
        assert_eq!(
            html,
            "<h2>Terms</h2><h3>Data</h3><p>We keep <em>little</em> and <strong>nothing</strong> \
             else.</p><ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li><li>four\
             </li></ol><p>See <a href=\"https://example.com\" rel=\"noopener noreferrer\" \
             title=\"home\">our site</a> or <a href=\"mailto:a@example.com\" \
             rel=\"noopener noreferrer\">mail</a>.</p><blockquote><p>quoted <code>code</code>\
             </p></blockquote><pre><code>fn x() {}\n</code></pre>"
        );
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = html_of("<script>alert(1)</script>\n\nHi <b onclick=\"x()\">there</b>");
        assert!(!html.contains("<script") && !html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("Hi &lt;b onclick=&quot;x()&quot;&gt;there&lt;/b&gt;"), "{html}");
    }

    #[test]
    fn only_http_https_and_mailto_links_keep_their_address() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "/relative",
            "//other.example/x",
        ] {
            let html = html_of(&format!("[click]({bad}) and <{bad}>"));
            assert!(!html.contains("<a"), "{bad}: {html}");
            assert!(html.contains("click"), "{bad}: {html}");
        }
        let html = html_of("<https://example.com/a?b=1&c=2>");
        assert_eq!(
            html,
            "<p><a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer\">\
             https://example.com/a?b=1&amp;c=2</a></p>"
        );
    }

    #[test]
    fn images_are_their_description_and_text_is_escaped() {
        let html = html_of("![a \"logo\"](https://tracker.example/p.gif) & 'more' <3");
        assert_eq!(html, "<p>a &quot;logo&quot; &amp; &#39;more&#39; &lt;3</p>");
    }

    #[test]
    fn the_subset_reads_as_commonmark_does() {
        let cases = [
            ("a  \nb\\\nc\nd", "<p>a<br>b<br>c\nd</p>"),
            ("snake_case_name and 2 * 3", "<p>snake_case_name and 2 * 3</p>"),
            ("*a _b* and _c_", "<p><em>a _b</em> and <em>c</em></p>"),
            ("*a **b** c*", "<p><em>a <strong>b</strong> c</em></p>"),
            ("__x__ _y_ \\*z\\*", "<p><strong>x</strong> <em>y</em> *z*</p>"),
            ("*not closed and **neither", "<p>*not closed and **neither</p>"),
            ("``a ` b``", "<p><code>a ` b</code></p>"),
            ("### Closed ###", "<h4>Closed</h4>"),
            ("#hashtag", "<p>#hashtag</p>"),
            ("---\n***", "<hr><hr>"),
            ("1) one\n   more\n2) two", "<ol><li>one\nmore</li><li>two</li></ol>"),
            ("- a\n\n- b\n\npara", "<ul><li>a</li><li>b</li></ul><p>para</p>"),
            ("text\n- item", "<p>text</p><ul><li>item</li></ul>"),
            ("> > deep", "<blockquote><blockquote><p>deep</p></blockquote></blockquote>"),
            (
                "[*em* link](https://x.example)",
                "<p><a href=\"https://x.example\" rel=\"noopener noreferrer\"><em>em</em> link</a></p>",
            ),
            ("[no close](https://x.example", "<p>[no close](https://x.example</p>"),
            ("~~~\n<b>\n~~~", "<pre><code>&lt;b&gt;\n</code></pre>"),
        ];
        for (markdown, expected) in cases {
            assert_eq!(html_of(markdown), expected, "{markdown:?}");
        }
    }

    /// The names of the tags in `html`.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<').skip(1).map(|t| t.split(['>', ' ']).next().unwrap_or("")).collect()
    }

    #[test]
    fn hostile_text_stays_text_and_bounded() {
        // Deep quotes stop at the depth limit; the rest is text.
        let html = html_of(&format!("{}x", "> ".repeat(200)));
        assert_eq!(html.matches("<blockquote>").count(), usize::from(MAX_DEPTH));
        // Openers by the thousand, unclosed brackets: only the writer's own tags.
        let allowed =
            ["p", "/p", "em", "/em", "strong", "/strong", "code", "/code", "br", "a", "/a"];
        for text in ["*_[`<".repeat(4000), format!("{}](https://x.example)", "[".repeat(5000))] {
            let html = html_of(&text);
            assert!(tags(&html).iter().all(|t| allowed.contains(t)), "{}", &html[..200]);
        }
        for sample in
            ["<img src=x onerror=alert(1)>", "[x](javascript:alert(1) \"t\")", "<!-- c -->"]
        {
            let html = html_of(sample);
            assert!(tags(&html).iter().all(|t| ["p", "/p"].contains(t)), "{sample}: {html}");
        }
    }
}
