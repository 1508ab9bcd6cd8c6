//! The request's head in, the response out: each crosses between JavaScript and
//! wasm in one call, as one string, instead of one call per header (an iterator,
//! its entries and their strings, each a crossing and a few JavaScript objects for
//! the collector).
//!
//! Header names and values never hold a line feed (the Fetch standard refuses
//! them in both, and `http` refuses them in a `HeaderValue`), so the head is the
//! method, the URL, then each name and value, all separated by `\n`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function requestHead(request) {
  let head = request.method + "\n" + request.url;
  for (const [name, value] of request.headers) head += "\n" + name + "\n" + value;
  return head;
}
export function newResponse(status, head, body) {
  const headers = new Headers();
  if (head.length > 0) {
    const parts = head.split("\n");
    for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  }
  return new Response(body.length > 0 ? body.slice() : null, { status, headers });
}
"#)]
extern "C" {
    /// The method, URL and headers of `request`, separated by `\n`.
    #[wasm_bindgen(js_name = requestHead)]
    fn request_head(request: &web_sys::Request) -> String;
    /// A response of `status` with the headers of `head` (names and values
    /// separated by `\n`) and a copy of `body` (none when it is empty).
    #[wasm_bindgen(js_name = newResponse, catch)]
    fn new_response(status: u16, head: &str, body: &[u8]) -> Result<web_sys::Response, JsValue>;
}

/// The head of a request: its method, URL, and headers in order.
pub(crate) struct Head {
    text: String,
}

impl Head {
    pub(crate) fn of(request: &web_sys::Request) -> Self {
        Self { text: request_head(request) }
    }

    /// The method, the URL and the headers as (name, value) pairs.
    pub(crate) fn parts(&self) -> (&str, &str, impl Iterator<Item = (&str, &str)>) {
        let mut lines = self.text.split('\n');
        let method = lines.next().unwrap_or_default();
        let url = lines.next().unwrap_or_default();
        let headers = std::iter::from_fn(move || Some((lines.next()?, lines.next()?)));
        (method, url, headers)
    }
}

/// The runtime's response for `response`: its headers that are visible ASCII
/// (any other cannot be a Fetch header value) and its body.
pub(crate) fn to_response(
    response: &gatehouse_core::http::Response,
) -> Result<web_sys::Response, JsValue> {
    let mut head = String::with_capacity(256);
    for (name, value) in response.headers() {
        let Ok(value) = value.to_str() else { continue };
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name.as_str());
        head.push('\n');
        head.push_str(value);
    }
    new_response(response.status().as_u16(), &head, response.body())
}
