# Shared by the scripts: installs what is missing, quickly when nothing is.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WRANGLER_SEND_METRICS=false
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

WASM_BINDGEN_VERSION="0.2.130"
WORKER_BUILD_VERSION="0.8.7"
CARGO_DENY_VERSION="0.20.2"

log() { printf '==> %s\n' "$*" >&2; }

ensure_rust() {
  if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if ! worker-build --version 2>/dev/null | grep -qE "(^| )$WORKER_BUILD_VERSION\$"; then
    log "installing worker-build $WORKER_BUILD_VERSION"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --force
  fi
}

# The compiler the browser package is built with (scripts/build-web): a pinned
# nightly, for the standard library rebuilt for size.
WEB_TOOLCHAIN=nightly-2026-05-20

ensure_web_toolchain() {
  if ! rustup toolchain list | grep -q "^$WEB_TOOLCHAIN-"; then
    log "installing the $WEB_TOOLCHAIN toolchain for the browser package"
    rustup toolchain install "$WEB_TOOLCHAIN" --profile minimal --component rust-src \
      --target wasm32-unknown-unknown
  fi
}

ensure_deny() {
  if ! cargo deny --version 2>/dev/null | grep -q " $CARGO_DENY_VERSION\$"; then
    log "installing cargo-deny $CARGO_DENY_VERSION"
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --force
  fi
}

ensure_node() {
  if [ ! -x "$ROOT/node_modules/.bin/wrangler" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm packages"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing chromium"
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}

# Drops the wasm name section that worker-build keeps (function names for stack
# traces: about 13% of the gzip size). GATEHOUSE_KEEP_WASM_NAMES=1 keeps it, for
# readable stack traces while debugging.
strip_wasm_names() {
  local wasm="$1"
  if [ "${GATEHOUSE_KEEP_WASM_NAMES:-}" = "1" ]; then
    log "keeping the wasm name section ($wasm)"
    return
  fi
  # The same feature set worker-build gives wasm-opt, so nothing is re-encoded.
  "$ROOT/node_modules/.bin/wasm-opt" "$wasm" --strip-debug \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types \
    --enable-exception-handling -o "$wasm.stripped"
  mv "$wasm.stripped" "$wasm"
}
