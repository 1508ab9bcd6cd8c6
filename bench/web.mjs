// Browser package benchmark: the built package (crates/web/pkg) beside the
// libraries single-page apps use. Not a test; run it with `scripts/bench web`
// (see docs/performance.md).
//
//   node bench/web.mjs [--rounds 5] [--seconds 2] [--warmup 0.5]
//                      [--algs ES256,RS256] [--json target/bench/web.json]
//
// Size: what the package ships (index.js, the entry and the wasm-bindgen glue
// minified together, and the wasm, each file gzipped as a server would send it) beside oidc-client-ts with jose (it checks
// no signature; jose is what it would need), oidc-client-ts alone, auth0-spa-js and
// jose alone, each bundled from node_modules with esbuild into one minified ES
// module from an entry that imports what an app uses. Gzip at level 9 and at the
// default level (6).
//
// Verifications per second: one headless Chromium page (Debian's, through
// playwright-core) on a static server on 127.0.0.1 (bench/web-page.mjs). The page
// makes an ES256 and an RS256 key pair with WebCrypto and signs an ID token with
// jose, then verifies that token one call at a time for a fixed time: Gatehouse's
// verifyIdToken step, jose's jwtVerify plus the checks it leaves to the app, and a
// bare crypto.subtle.verify as the floor under both. After a warm-up, each round
// gives each verifier the same time in short turns (so the machine's other load
// falls on all three alike), who goes first alternating; the summary is the median
// over rounds of each rate and of the per-round ratio.

import { build } from "esbuild";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { ROOT } from "../tests/harness.mjs";
import { launchBrowser } from "../tests/support/browser.mjs";
import { median } from "./load.mjs";

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "2" },
    warmup: { type: "string", default: "0.5" },
    algs: { type: "string", default: "ES256,RS256" },
    json: { type: "string", default: path.join(ROOT, "target", "bench", "web.json") },
  },
});
const ROUNDS = Math.min(Math.max(1, Math.floor(Number(opts.rounds))), 20);
const SECONDS = Math.min(Math.max(0.05, Number(opts.seconds)), 30);
const WARMUP = Math.min(Math.max(0, Number(opts.warmup)), 30);
// Each verifier's time in a round is taken in turns of this many seconds.
const SLICE = 0.25;
const ALGS = opts.algs.split(",");
for (const alg of ALGS) {
  if (!["ES256", "RS256"].includes(alg)) throw new Error(`unknown algorithm ${alg}`);
}

const PKG = path.join(ROOT, "crates", "web", "pkg");
const PKG_FILES = ["index.js", "gatehouse_web_bg.wasm"];
// wasm-bindgen's glue on its own (scripts/build-web keeps it in the target
// directory): the page drives the package's internal class with it, as the entry does.
const GLUE = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "web", "bindgen", "gatehouse_web.js");

/** The peers, each an entry importing what an app would use. */
const PEERS = [
  {
    name: "oidc-client-ts + jose",
    packages: ["oidc-client-ts", "jose"],
    entry: 'export { UserManager } from "oidc-client-ts";\nexport { jwtVerify, createRemoteJWKSet } from "jose";',
  },
  { name: "oidc-client-ts", packages: ["oidc-client-ts"], entry: 'export { UserManager } from "oidc-client-ts";' },
  {
    name: "auth0-spa-js",
    packages: ["@auth0/auth0-spa-js"],
    entry: 'export { createAuth0Client } from "@auth0/auth0-spa-js";',
  },
  { name: "jose", packages: ["jose"], entry: 'export { jwtVerify, createRemoteJWKSet } from "jose";' },
];

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "-";

async function packageVersion(name) {
  const json = JSON.parse(await fs.readFile(path.join(ROOT, "node_modules", name, "package.json"), "utf8"));
  return json.version;
}

function gzipSizes(bytes) {
  return {
    raw: bytes.length,
    gzip9: zlib.gzipSync(bytes, { level: 9 }).length,
    gzip: zlib.gzipSync(bytes).length,
  };
}

function sum(parts) {
  return parts.reduce((a, b) => ({ raw: a.raw + b.raw, gzip9: a.gzip9 + b.gzip9, gzip: a.gzip + b.gzip }));
}

/** One minified ES module (browser conditions) from `contents`, resolved from the repository. */
async function bundle(contents, { minify = true } = {}) {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, sourcefile: "entry.mjs", loader: "js" },
    bundle: true,
    minify,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "error",
  });
  return result.outputFiles[0].contents;
}

async function measureSizes() {
  const files = await Promise.all(PKG_FILES.map((f) => fs.readFile(path.join(PKG, f))));
  const gatehouse = {
    name: "Gatehouse (index.js with its glue, wasm)",
    version: JSON.parse(await fs.readFile(path.join(PKG, "package.json"), "utf8")).version,
    files: Object.fromEntries(PKG_FILES.map((f, i) => [f, gzipSizes(files[i])])),
    ...sum(files.map(gzipSizes)),
  };
  const rows = [gatehouse];
  for (const peer of PEERS) {
    const versions = await Promise.all(peer.packages.map(packageVersion));
    rows.push({
      name: peer.name,
      version: peer.packages.map((p, i) => `${p} ${versions[i]}`).join(", "),
      entry: peer.entry,
      ...gzipSizes(await bundle(peer.entry)),
    });
  }
  for (const row of rows) row.ratio = row.gzip9 / gatehouse.gzip9;
  return rows;
}

function printSizes(rows) {
  console.log("size, bytes (each file gzipped on its own; peers: one esbuild bundle, minified)");
  console.log(
    `${"".padEnd(36)} ${"raw".padStart(9)} ${"gzip -9".padStart(9)} ${"gzip -6".padStart(9)} ${"vs Gatehouse".padStart(13)}`,
  );
  for (const row of rows) {
    console.log(
      `${(row.variant ? `  ${row.name}` : row.name).padEnd(36)} ${fmt(row.raw).padStart(9)} ${fmt(row.gzip9).padStart(9)} ${fmt(row.gzip).padStart(9)} ` +
        `${`${fmt(row.ratio, 2)}x`.padStart(13)}`,
    );
  }
  for (const row of rows) if (row.entry) console.log(`  ${row.name}: ${row.version}; entry: ${row.entry.replaceAll("\n", " ")}`);
  const g = rows[0].files;
  console.log(
    `  Gatehouse ${rows[0].version} gzip -9 by file: ` +
      Object.entries(g)
        .map(([f, s]) => `${f} ${fmt(s.gzip9)}`)
        .join(", "),
  );
}

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>browser package benchmark</title></head>
<body><p id="status">loading</p><script type="module" src="/bench.mjs"></script></body></html>`;

/** The page, the package, jose's browser build, on 127.0.0.1. */
async function serve() {
  const jose = await bundle('export * from "jose";', { minify: false });
  const pageScript = await fs.readFile(path.join(ROOT, "bench", "web-page.mjs"));
  const server = http.createServer(async (req, res) => {
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    const { pathname } = new URL(req.url, "http://127.0.0.1");
    if (pathname === "/") return send(200, "text/html; charset=utf-8", PAGE);
    if (pathname === "/bench.mjs") return send(200, TYPES[".mjs"], pageScript);
    if (pathname === "/jose.js") return send(200, TYPES[".js"], jose);
    if (pathname === "/glue/gatehouse_web.js") return send(200, TYPES[".js"], await fs.readFile(GLUE));
    if (pathname === "/glue/gatehouse_web_bg.wasm") {
      return send(200, "application/wasm", await fs.readFile(path.join(PKG, "gatehouse_web_bg.wasm")));
    }
    if (pathname.startsWith("/pkg/")) {
      const file = path.join(PKG, path.normalize(pathname.slice(5)));
      if (file.startsWith(PKG + path.sep)) {
        try {
          return send(200, TYPES[path.extname(file)] ?? "application/octet-stream", await fs.readFile(file));
        } catch {
          /* not found below */
        }
      }
    }
    return send(404, "text/plain", "not found");
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const WHAT = {
  gatehouse:
    "the core's verifyIdToken and finish steps: alg allowed, kid in the JWKS, typ, signature (WebCrypto, key imported once), iss, aud, azp, exp and iat, nonce, at_hash (SHA-256 in wasm), claims returned",
  jose: "jwtVerify(token, publicKey, { issuer, audience, algorithms }): alg, signature (WebCrypto, the CryptoKey given), iss, aud, exp and iat; then by hand azp, nonce and at_hash (crypto.subtle.digest)",
  webcrypto: "crypto.subtle.verify of the signature alone, the key imported: the floor under both",
};

async function measureVerifications() {
  const server = await serve();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(server.url);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
    const startError = await page.evaluate(() => window.benchError);
    if (startError) throw new Error(`the benchmark page failed: ${startError}`);
    if (pageErrors.length) throw new Error(`the benchmark page failed: ${pageErrors.join("; ")}`);

    const prepared = [];
    for (const alg of ALGS) prepared.push(await page.evaluate((a) => window.bench.prepare(a), alg));
    const run = (names, alg, seconds) =>
      page.evaluate(([n, a, s, t]) => window.bench.run(n, a, s, t), [names, alg, seconds, Math.min(SLICE, seconds)]);

    console.log(
      `\nID-token verifications per second in Chromium ${browser.version()}, one at a time; ` +
        `${ROUNDS} round${ROUNDS === 1 ? "" : "s"} of ${SECONDS} s each, in turns of ${Math.min(SLICE, SECONDS)} s, ` +
        `after a ${WARMUP} s warm-up; ${os.cpus().length} CPUs`,
    );
    for (const [name, what] of Object.entries(WHAT)) console.log(`  ${name.padEnd(9)} ${what}`);
    for (const p of prepared) console.log(`  ${p.alg} ID token: ${p.tokenLength} characters, claims ${p.claims.join(" ")}`);

    if (WARMUP > 0) {
      for (const alg of ALGS) await run(Object.keys(WHAT), alg, WARMUP);
    }
    const runs = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const alg of ALGS) {
        const order = round % 2 ? ["webcrypto", "jose", "gatehouse"] : ["gatehouse", "jose", "webcrypto"];
        const r = await run(order, alg, SECONDS);
        runs.push({ round: round + 1, alg, ...r, ratio: r.gatehouse.perSecond / r.jose.perSecond });
        console.log(
          `round ${round + 1} ${alg}  gatehouse ${fmt(r.gatehouse.perSecond).padStart(7)}/s  jose ${fmt(r.jose.perSecond).padStart(7)}/s  ` +
            `ratio ${fmt(r.gatehouse.perSecond / r.jose.perSecond, 2)}x  webcrypto alone ${fmt(r.webcrypto.perSecond).padStart(7)}/s`,
        );
      }
    }
    if (pageErrors.length) throw new Error(`the benchmark page failed: ${pageErrors.join("; ")}`);

    const summary = ALGS.map((alg) => {
      const of = runs.filter((r) => r.alg === alg);
      const rate = (name) => median(of.map((r) => r[name].perSecond));
      return {
        alg,
        gatehouse: rate("gatehouse"),
        jose: rate("jose"),
        webcrypto: rate("webcrypto"),
        ratio: median(of.map((r) => r.ratio)),
        gatehouseOfWebcrypto: median(of.map((r) => r.gatehouse.perSecond / r.webcrypto.perSecond)),
      };
    });
    console.log(`\nmedians over ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} (ratio: the median of the per-round ratios)`);
    console.log(
      `${"alg".padEnd(6)} ${"gatehouse/s".padStart(12)} ${"jose/s".padStart(9)} ${"gatehouse/jose".padStart(15)} ` +
        `${"webcrypto/s".padStart(12)} ${"gatehouse/webcrypto".padStart(20)}`,
    );
    for (const s of summary) {
      console.log(
        `${s.alg.padEnd(6)} ${fmt(s.gatehouse).padStart(12)} ${fmt(s.jose).padStart(9)} ${`${fmt(s.ratio, 2)}x`.padStart(15)} ` +
          `${fmt(s.webcrypto).padStart(12)} ${`${fmt(s.gatehouseOfWebcrypto, 2)}x`.padStart(20)}`,
      );
    }
    return { chromium: browser.version(), what: WHAT, tokens: prepared, runs, summary };
  } finally {
    await browser.close();
    await server.close();
  }
}

const sizes = await measureSizes();
printSizes(sizes);
const verifications = await measureVerifications();

await fs.mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
await fs.writeFile(
  opts.json,
  JSON.stringify(
    {
      settings: { rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, slice: Math.min(SLICE, SECONDS), algs: ALGS },
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.versions.node, chromium: verifications.chromium },
      sizes,
      verifications: { what: verifications.what, tokens: verifications.tokens, runs: verifications.runs, summary: verifications.summary },
    },
    null,
    2,
  ),
);
console.log(`\nresults written to ${path.relative(process.cwd(), path.resolve(opts.json))}`);
