// The call being served, for code that runs on its behalf without being handed its CallContext:
// a peer transport (peer-transport.ts) reads the incoming call's deadline and cancellation here
// so an outgoing call made while serving it never outlives it. Servers started with callScope
// (`keyhold serve`) run every composed handler entry (createDispatcher) inside its call's scope.
//
// The scope ends when the handler's promise settles: work the handler left behind (a timer it
// set, a background loop it woke) still runs in its async context afterwards, but is no longer
// "serving" that call, and must not inherit its deadline (long past by then).
import { AsyncLocalStorage } from "node:async_hooks";
import type { CallContext } from "./call.ts";

interface Scope {
  readonly call: CallContext;
  done: boolean;
}

const storage = new AsyncLocalStorage<Scope>();

/** Runs the handler `fn` with `call` as the current call until its promise settles. */
export function runInCallScope<T>(call: CallContext, fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { call, done: false };
  const end = () => {
    scope.done = true;
  };
  const result = storage.run(scope, fn);
  result.then(end, end);
  return result;
}

/** The call being served by the code running now, or undefined outside any handler (or after it answered). */
export function currentCall(): CallContext | undefined {
  const scope = storage.getStore();
  return scope === undefined || scope.done ? undefined : scope.call;
}
