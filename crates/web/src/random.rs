//! The browser's CSPRNG (`crypto.getRandomValues`) as a `rand_core` rng, for
//! `state`, `nonce` and the PKCE verifier.

use rand_core::{CryptoRng, RngCore};
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` of the global scope (a window or a worker).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// `crypto.getRandomValues`. Used only for the few bytes a login needs.
pub(crate) struct BrowserRng;

impl RngCore for BrowserRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // getRandomValues fills at most 65,536 bytes per call.
        for chunk in dest.chunks_mut(65_536) {
            get_random_values(chunk);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for BrowserRng {}
