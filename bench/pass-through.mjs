// The limit for the gateway's hot path: a worker that forwards every request to the
// origin the way the gateways do (the Authorization header dropped, the rest copied)
// without checking anything. A gateway that has seen a token before can at best
// match it.
import { benchLoop, stubOrigin } from "./loop.mjs";

function handle(request, env) {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  return fetch(`${env.ORIGIN}${url.pathname}${url.search}`, { method: request.method, headers, redirect: "manual" });
}

export default {
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
