// The steps every call passes through before its handler (identity now; authorization and
// audit join later), composed once per method at startup so a call pays no set-up cost.
import type { CallContext, ServiceBinding } from "./call.ts";
import { runInCallScope } from "./call-scope.ts";

export type UnaryNext = (request: unknown, call: CallContext) => Promise<unknown>;
export type CallInterceptor = (next: UnaryNext) => UnaryNext;

export interface Dispatcher {
  /** The composed entry for one method, by "<service typeName>/<method name>". */
  entry(service: string, method: string): UnaryNext;
}

/**
 * callScope: every entry runs inside its call's scope (call-scope.ts), so peer transports used
 * while serving it carry its deadline and cancellation. Only processes that call peers over the
 * network need it (`keyhold serve`); it costs an async context frame and a promise per call.
 */
export function createDispatcher(bindings: readonly ServiceBinding[], interceptors: readonly CallInterceptor[], options: { readonly callScope?: boolean } = {}): Dispatcher {
  const entries = new Map<string, UnaryNext>();
  for (const binding of bindings) {
    for (const method of binding.service.methods) {
      const handler = binding.handlers[method.localName];
      if (handler === undefined) throw new Error(`${binding.service.typeName}: no handler for ${method.name}`);
      const chain = [...interceptors, ...binding.interceptors];
      let next: UnaryNext = handler as UnaryNext;
      for (let i = chain.length - 1; i >= 0; i--) next = chain[i]!(next);
      const composed = next;
      // The call is the current one (call-scope.ts) for everything it runs, peer calls included.
      entries.set(`${binding.service.typeName}/${method.name}`, options.callScope === true ? (request, call) => runInCallScope(call, () => composed(request, call)) : composed);
    }
  }
  return {
    entry(service, method) {
      const found = entries.get(`${service}/${method}`);
      if (found === undefined) throw new Error(`no entry for ${service}/${method}`);
      return found;
    },
  };
}
