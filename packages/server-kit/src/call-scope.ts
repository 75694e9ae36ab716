// The call being served, for code that runs on its behalf without being handed its CallContext:
// a peer transport (peer-transport.ts) reads the incoming call's deadline and cancellation here
// so an outgoing call made while serving it never outlives it. Every composed handler entry
// (createDispatcher) runs inside the scope of its call.
import { AsyncLocalStorage } from "node:async_hooks";
import type { CallContext } from "./call.ts";

const scope = new AsyncLocalStorage<CallContext>();

/** Runs `fn` with `call` as the current call. */
export function runInCallScope<T>(call: CallContext, fn: () => T): T {
  return scope.run(call, fn);
}

/** The call being served by the code running now, or undefined outside any handler. */
export function currentCall(): CallContext | undefined {
  return scope.getStore();
}
