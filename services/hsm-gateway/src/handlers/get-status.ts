// GetStatus: token presence, login and pool state. Reports HSM trouble rather than failing; it
// also gives a lost token a chance to reconnect (at most once per reconnect interval).
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";

type M = (typeof HsmService)["method"]["getStatus"];

export function getStatus(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async () => {
    ctx.pool.reconnectIfDown();
    const probe = ctx.token.probe();
    const pool = ctx.pool.gauges();
    return {
      tokenPresent: probe.present,
      loggedIn: probe.loggedIn,
      tokenLabel: ctx.token.label,
      poolSize: pool.size,
      poolInUse: pool.inUse,
      poolWaiting: pool.waiting,
      poolCapacity: pool.capacity,
    };
  };
}
