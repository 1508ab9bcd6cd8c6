// A refused oversized body must not spoil the client's kept-alive connection:
// under `wrangler dev`, the next request on the same socket used to get a 503
// after a 413. Node's http.Agent with keepAlive sends both requests on one socket
// (or on a new one if the server answered `Connection: close`).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT, startWranglerDev } from "./harness.mjs";

let dev;
let persist;

before(async () => {
  fs.mkdirSync(path.join(ROOT, ".wrangler"), { recursive: true });
  persist = fs.mkdtempSync(path.join(ROOT, ".wrangler", "keepalive-test-"));
  dev = await startWranglerDev({ persistTo: persist });
});

after(async () => {
  await dev?.stop();
  if (persist) fs.rmSync(persist, { recursive: true, force: true });
});

/** One request through `agent`; resolves with the status, body and socket. */
function send(agent, method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...headers, "content-length": body.length } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text, socket: req.socket }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };

for (const [what, size] of [
  ["just over 64 KiB", 64 * 1024 + 100],
  ["of 3 MiB", 3 * 1024 * 1024],
]) {
  test(`a request after a 413 for a body ${what} on the same connection is answered`, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = Buffer.alloc(size, "a");
      const refused = await send(agent, "POST", `${dev.url}/token`, big, FORM);
      assert.equal(refused.status, 413, refused.text);
      assert.equal(JSON.parse(refused.text).error, "invalid_request");
      for (let i = 0; i < 3; i++) {
        const next = await send(agent, "POST", `${dev.url}/token`, Buffer.from("grant_type=client_credentials"), FORM);
        assert.equal(next.status, 401, `request ${i + 2} after the 413: ${next.status} ${next.text}`);
        assert.equal(JSON.parse(next.text).error, "invalid_client");
      }
      const discovery = await send(agent, "GET", `${dev.url}/.well-known/openid-configuration`, Buffer.alloc(0));
      assert.equal(discovery.status, 200);
    } finally {
      agent.destroy();
    }
  });
}
