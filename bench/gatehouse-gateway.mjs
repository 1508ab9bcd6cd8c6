// The Gatehouse gateway (the release build) with the in-worker bench route added.
import Gateway from "../crates/gateway/build/index.js";
import { benchLoop, stubOrigin } from "./loop.mjs";

export default {
  async fetch(request, env, ctx) {
    const handle = (req) => Gateway.prototype.fetch.call({ env, ctx }, req);
    if (new URL(request.url).pathname === "/__bench") {
      const restore = stubOrigin(env.ORIGIN);
      try {
        return await benchLoop(request, handle);
      } finally {
        restore();
      }
    }
    return handle(request);
  },
};
