// The in-worker benchmark loop shared by both gateways: runs `handle` over the given
// tokens inside workerd, with the origin answered in-process (no network), so the
// time measured from outside is the gateway's own work: routing, verification,
// header rewriting, building the forwarded request.

const realFetch = globalThis.fetch;

/** Answers requests to `origin` in-process until the returned function is called;
 * everything else goes to the network. */
export function stubOrigin(origin) {
  globalThis.fetch = function (input, init) {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(origin)) return Promise.resolve(new Response("ok"));
    return realFetch.call(globalThis, input, init);
  };
  return () => {
    globalThis.fetch = realFetch;
  };
}

/** Sends `request` on to the origin with `headers`, as both gateways do: same method,
 * path and query, redirects handed back rather than followed. */
export function forward(request, env, headers) {
  const url = new URL(request.url);
  return fetch(`${env.ORIGIN}${url.pathname}${url.search}`, { method: request.method, headers, redirect: "manual" });
}

/** The `fetch` handler of a bench worker: `/__bench` runs the in-worker loop over
 * `handle` with the origin answered in-process; anything else is `handle`d. */
export function benchWorker(handle) {
  return {
    async fetch(request, env) {
      if (new URL(request.url).pathname === "/__bench") {
        const restore = stubOrigin(env.ORIGIN);
        try {
          return await benchLoop(request, (req) => handle(req, env));
        } finally {
          restore();
        }
      }
      return handle(request, env);
    },
  };
}

/** `POST /__bench {tokens: [...], path}`: one request per token, in sequence. */
export async function benchLoop(request, handle) {
  const { tokens, path } = await request.json();
  let ok = 0;
  const statuses = {};
  for (const token of tokens) {
    const res = await handle(
      new Request(`http://gateway.bench${path}`, { headers: { authorization: `Bearer ${token}` } }),
    );
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status === 200) ok++;
  }
  return Response.json({ n: tokens.length, ok, statuses });
}
