// The telemetry step of every call: a SERVER span named <package.Service>/<Method> whose parent
// is the caller's traceparent (tracing on), and the duration histogram (metrics on). Spans and
// metrics carry only rpc.system, rpc.service, rpc.method and rpc.grpc.status_code: never key ids,
// principals, accounts or payloads. With tracing off a call creates no span and enters no context.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import type { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { CallContext } from "../call.ts";
import { KeyholdError } from "../errors.ts";
import type { CallInterceptor, UnaryNext } from "../pipeline.ts";
import { rpcAttributes, type MethodMetrics, type RpcMetrics } from "./rpc-metrics.ts";

export interface ServerTracing {
  readonly tracer: Tracer;
  readonly contextManager: AsyncLocalStorageContextManager;
  readonly propagator: W3CTraceContextPropagator;
}

/** The gRPC status code a failed call answers with (the front doors map errors the same way). */
export function statusCodeOf(error: unknown): number {
  if (error instanceof KeyholdError) return error.code;
  if (error instanceof ConnectError) return error.code;
  return Code.Internal;
}

const CALL_HEADERS: TextMapGetter<CallContext> = {
  get: (call, key) => call.header(key),
  keys: () => [],
};

/** The span name the RPC conventions give a call. */
export function spanNameOf(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

interface MethodState {
  readonly metrics: MethodMetrics | undefined;
  readonly name: string;
  readonly attributes: Attributes;
}

export function serverTelemetryInterceptor(rpc: RpcMetrics | undefined, tracing: ServerTracing | undefined): CallInterceptor {
  if (rpc === undefined && tracing === undefined) return (next) => next;
  return (next: UnaryNext): UnaryNext => {
    // The pipeline composes a chain per method, so this closure serves one method: its state is
    // made on the first call and reused.
    let state: MethodState | undefined;
    const stateOf = (call: CallContext): MethodState => {
      state ??= { metrics: rpc?.forMethod(call.method), name: spanNameOf(call.method), attributes: Object.freeze(rpcAttributes(call.method)) };
      return state;
    };
    if (tracing === undefined) {
      return async (request, call) => {
        const { metrics } = stateOf(call);
        const start = performance.now();
        try {
          const response = await next(request, call);
          metrics!.record((performance.now() - start) / 1000, 0);
          return response;
        } catch (error) {
          metrics!.record((performance.now() - start) / 1000, statusCodeOf(error));
          throw error;
        }
      };
    }
    const { tracer, contextManager, propagator } = tracing;
    return async (request, call) => {
      const { metrics, name, attributes } = stateOf(call);
      const parent = propagator.extract(ROOT_CONTEXT, call, CALL_HEADERS);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
      const start = performance.now();
      try {
        const response = await contextManager.with(trace.setSpan(parent, span), next, undefined, request, call);
        span.setAttribute("rpc.grpc.status_code", 0);
        metrics?.record((performance.now() - start) / 1000, 0);
        return response;
      } catch (error) {
        const code = statusCodeOf(error);
        span.setAttribute("rpc.grpc.status_code", code);
        // The code's name only: an error message may quote the request.
        span.setStatus({ code: SpanStatusCode.ERROR, message: Code[code] ?? "UNKNOWN" });
        metrics?.record((performance.now() - start) / 1000, code);
        throw error;
      } finally {
        span.end();
      }
    };
  };
}
