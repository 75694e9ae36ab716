// A Connect client interceptor for calls to peer services: a CLIENT span per call, child of the
// active span, whose context goes out as the W3C traceparent header. Used only with tracing on.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode, trace, type TextMapSetter, type Tracer } from "@opentelemetry/api";
import type { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { W3CTraceContextPropagator } from "@opentelemetry/core";

const HEADERS: TextMapSetter<Headers> = { set: (headers, key, value) => headers.set(key, value) };

export function clientTracingInterceptor(tracer: Tracer, contextManager: AsyncLocalStorageContextManager, propagator: W3CTraceContextPropagator): Interceptor {
  return (next) => async (request) => {
    const parent = contextManager.active();
    const span = tracer.startSpan(
      `${request.service.typeName}/${request.method.name}`,
      { kind: SpanKind.CLIENT, attributes: { "rpc.system": "grpc", "rpc.service": request.service.typeName, "rpc.method": request.method.name } },
      parent,
    );
    propagator.inject(trace.setSpan(parent, span), request.header, HEADERS);
    try {
      const response = await next(request);
      span.setAttribute("rpc.grpc.status_code", 0);
      return response;
    } catch (error) {
      const code = error instanceof ConnectError ? error.code : Code.Unknown;
      span.setAttribute("rpc.grpc.status_code", code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: Code[code] ?? "UNKNOWN" });
      throw error;
    } finally {
      span.end();
    }
  };
}
