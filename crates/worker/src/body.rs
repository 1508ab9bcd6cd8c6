//! Reading a body stream with the runtime's own reader, at most a cap of it: the
//! engine's request bodies and the documents the issuer fetches. (workers-rs's
//! `ByteStream` would bring a stream adapter into the bundle for the same loop.)

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What to do with the rest of a body past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PastCap {
    /// Read it to the end and drop it: workerd reuses a kept-alive connection only
    /// once the request body was consumed.
    Drain,
    /// Stop reading and cancel the stream.
    Cancel,
}

/// The body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadError;

/// Reads `stream`, keeping at most `cap` + 1 bytes (so a caller can tell that the
/// body was over the cap without holding all of it).
pub(crate) async fn read_capped(
    stream: &web_sys::ReadableStream,
    cap: usize,
    past_cap: PastCap,
) -> Result<Vec<u8>, ReadError> {
    let reader = call0(stream, "getReader")?;
    let mut body = Vec::new();
    loop {
        let read: Promise = call0(&reader, "read")?.dyn_into().map_err(|_| ReadError)?;
        let chunk = JsFuture::from(read).await.map_err(|_| ReadError)?;
        if Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool())
            == Some(true)
        {
            return Ok(body);
        }
        if body.len() > cap {
            // Past the cap the rest is read and dropped (only when draining).
            continue;
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(|_| ReadError)?;
        let bytes = value.dyn_into::<Uint8Array>().map_err(|_| ReadError)?;
        let room = cap + 1 - body.len();
        let take = u32::try_from(room).unwrap_or(u32::MAX).min(bytes.length());
        let start = body.len();
        body.resize(start + take as usize, 0);
        if let Some(tail) = body.get_mut(start..) {
            bytes.subarray(0, take).copy_to(tail);
        }
        if body.len() > cap && past_cap == PastCap::Cancel {
            // The rest is never transferred.
            let _ = call0(&reader, "cancel");
            return Ok(body);
        }
    }
}

/// `target[name]()`.
fn call0(target: &JsValue, name: &str) -> Result<JsValue, ReadError> {
    let method: Function = Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or(ReadError)?;
    method.call0(target).map_err(|_| ReadError)
}
