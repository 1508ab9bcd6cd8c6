// The limit for the gateway's hot path: a worker that forwards every request to the
// origin the way the gateways do (the Authorization header dropped, the rest copied)
// without checking anything. A gateway that has seen a token before can at best
// match it.
import { benchWorker, forward } from "./loop.mjs";

export default benchWorker((request, env) => {
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  return forward(request, env, headers);
});
