//! A consent policy's Markdown (CommonMark, no extensions) as escaped HTML.
//!
//! `pulldown-cmark` parses; this writer decides every tag, through the page's one
//! escaping [`Html`] writer. What no policy may bring onto the issuer's pages is
//! never written as markup:
//!
//! - raw HTML, in a block or inline, is shown as text;
//! - a link keeps its tag only for an `http:`, `https:` or `mailto:` address, and
//!   then opens without a referrer or a handle on this page
//!   (`rel="noopener noreferrer"`); any other link (`javascript:`, `data:`, a
//!   relative path) is its text alone;
//! - an image is its description: the pages load nothing a policy names;
//! - headings start one level below the page's own `<h1>`.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::html::Html;

/// Writes `markdown` into `html`.
pub(super) fn render(html: &mut Html, markdown: &str) {
    // Per open link or image: whether its tag was written (so its end is too).
    let mut open: Vec<bool> = Vec::new();
    for event in Parser::new_ext(markdown, Options::empty()) {
        match event {
            Event::Start(tag) => start(html, tag, &mut open),
            Event::End(tag) => end(html, tag, &mut open),
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => html.text(&text),
            Event::Code(code) => html.element("code", &[], &code),
            Event::SoftBreak => html.text("\n"),
            Event::HardBreak => html.markup("<br>"),
            Event::Rule => html.markup("<hr>"),
            // Not produced without their extensions; their text is all a reader needs.
            Event::FootnoteReference(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                html.text(&text)
            }
            Event::TaskListMarker(_) => {}
        }
    }
}

fn start(html: &mut Html, tag: Tag<'_>, open: &mut Vec<bool>) {
    match tag {
        Tag::Paragraph => html.start("p", &[]),
        Tag::Heading { level, .. } => html.start(heading(level), &[]),
        Tag::BlockQuote(_) => html.start("blockquote", &[]),
        // A fenced block's language is not shown: the pages highlight nothing.
        Tag::CodeBlock(_) => {
            html.start("pre", &[]);
            html.start("code", &[]);
        }
        Tag::List(Some(first)) if first != 1 => html.start("ol", &[("start", &first.to_string())]),
        Tag::List(Some(_)) => html.start("ol", &[]),
        Tag::List(None) => html.start("ul", &[]),
        Tag::Item => html.start("li", &[]),
        Tag::Emphasis => html.start("em", &[]),
        Tag::Strong => html.start("strong", &[]),
        Tag::Strikethrough => html.start("del", &[]),
        Tag::Link { dest_url, title, .. } => {
            let allowed = allowed_link(&dest_url);
            if allowed {
                let mut attrs = vec![("href", &*dest_url), ("rel", "noopener noreferrer")];
                if !title.is_empty() {
                    attrs.push(("title", &*title));
                }
                html.start("a", &attrs);
            }
            open.push(allowed);
        }
        Tag::Image { .. } => open.push(false),
        // Raw HTML blocks: their lines arrive as `Event::Html` and are shown as text.
        Tag::HtmlBlock => html.start("p", &[]),
        Tag::FootnoteDefinition(_)
        | Tag::DefinitionList
        | Tag::DefinitionListTitle
        | Tag::DefinitionListDefinition
        | Tag::Table(_)
        | Tag::TableHead
        | Tag::TableRow
        | Tag::TableCell
        | Tag::Superscript
        | Tag::Subscript
        | Tag::MetadataBlock(_) => {}
    }
}

fn end(html: &mut Html, tag: TagEnd, open: &mut Vec<bool>) {
    match tag {
        TagEnd::Paragraph | TagEnd::HtmlBlock => html.end("p"),
        TagEnd::Heading(level) => html.end(heading(level)),
        TagEnd::BlockQuote(_) => html.end("blockquote"),
        TagEnd::CodeBlock => {
            html.end("code");
            html.end("pre");
        }
        TagEnd::List(true) => html.end("ol"),
        TagEnd::List(false) => html.end("ul"),
        TagEnd::Item => html.end("li"),
        TagEnd::Emphasis => html.end("em"),
        TagEnd::Strong => html.end("strong"),
        TagEnd::Strikethrough => html.end("del"),
        TagEnd::Link => {
            if open.pop() == Some(true) {
                html.end("a");
            }
        }
        TagEnd::Image => {
            open.pop();
        }
        TagEnd::FootnoteDefinition
        | TagEnd::DefinitionList
        | TagEnd::DefinitionListTitle
        | TagEnd::DefinitionListDefinition
        | TagEnd::Table
        | TagEnd::TableHead
        | TagEnd::TableRow
        | TagEnd::TableCell
        | TagEnd::Superscript
        | TagEnd::Subscript
        | TagEnd::MetadataBlock(_) => {}
    }
}

/// Markdown's `#` is the page's `<h2>`: the page's `<h1>` is the policy's title.
const fn heading(level: HeadingLevel) -> &'static str {
    match level {
        HeadingLevel::H1 => "h2",
        HeadingLevel::H2 => "h3",
        HeadingLevel::H3 => "h4",
        HeadingLevel::H4 => "h5",
        HeadingLevel::H5 | HeadingLevel::H6 => "h6",
    }
}

/// Whether a link may keep its address: absolute `http`, `https` or `mailto`.
fn allowed_link(url: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|scheme| {
        url.get(..scheme.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
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
}
