// One process's telemetry: a meter provider whose Prometheus reader serves GET /metrics, and,
// only when tracing is on, tracer providers (one per Keyhold service, so each span names the
// service that made it) sharing one span processor, an AsyncLocalStorage context manager and the
// W3C trace-context propagator. Nothing here is registered globally: the providers are handed
// to whoever needs them. With tracing off no span, no context and no propagation code runs.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Interceptor } from "@connectrpc/connect";
import { ROOT_CONTEXT, trace, type Context, type Meter, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler,
  type SpanExporter, type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { createAddressMatcher } from "../address-list.ts";
import type { LogFields } from "../logger.ts";
import type { CallInterceptor } from "../pipeline.ts";
import { clientTracingInterceptor } from "./client-interceptor.ts";
import { createRpcMetrics, type RpcMetrics } from "./rpc-metrics.ts";
import { serverTelemetryInterceptor, type ServerTracing } from "./server-interceptor.ts";
import type { TelemetryConfig } from "./telemetry-config.ts";

const SCOPE = "@keyhold/server-kit";
const SERVICE_NAMESPACE = "keyhold";

/** What the HTTP front door needs to serve GET /metrics. */
export interface MetricsEndpoint {
  handle(req: IncomingMessage, res: ServerResponse): void;
}

export interface TelemetryOptions {
  /**
   * Where spans go instead of what config.traces says (tests: an InMemorySpanExporter). Given,
   * tracing is on and spans are exported one by one as they end.
   */
  readonly spanExporter?: SpanExporter;
}

/** The tracing machinery, present only when tracing is on. */
interface Tracing {
  readonly processor: SpanProcessor;
  readonly sampler: ParentBasedSampler;
  readonly contextManager: AsyncLocalStorageContextManager;
  readonly propagator: W3CTraceContextPropagator;
  readonly tracers: Map<string, Tracer>;
}

export class Telemetry {
  readonly config: TelemetryConfig;
  readonly #meterProvider: MeterProvider;
  readonly #prometheus: PrometheusExporter;
  readonly #rpc: RpcMetrics | undefined;
  readonly #tracing: Tracing | undefined;
  readonly #interceptors = new Map<string, CallInterceptor>();
  readonly #clientInterceptors = new Map<string, Interceptor>();

  constructor(config: TelemetryConfig, options: TelemetryOptions = {}) {
    this.config = config;
    this.#rpc = config.metrics ? createRpcMetrics(SCOPE) : undefined;
    this.#prometheus = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      ...(this.#rpc === undefined ? {} : { metricProducers: [this.#rpc.producer] }),
    });
    this.#meterProvider = new MeterProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, "service.namespace": SERVICE_NAMESPACE }),
      readers: config.metrics ? [this.#prometheus] : [],
    });
    const exporter = options.spanExporter ?? (config.traces === "otlp" ? new OTLPTraceExporter({ url: config.otlpTracesUrl }) : undefined);
    if (exporter !== undefined) {
      const contextManager = new AsyncLocalStorageContextManager();
      contextManager.enable();
      this.#tracing = {
        processor: options.spanExporter !== undefined ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter),
        sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
        contextManager,
        propagator: new W3CTraceContextPropagator(),
        tracers: new Map(),
      };
    }
  }

  /** Whether spans are made at all. */
  get tracing(): boolean {
    return this.#tracing !== undefined;
  }

  /** The meter for Keyhold's own instruments (observable gauges of pools, caches, outboxes). */
  get meter(): Meter {
    return this.#meterProvider.getMeter(SCOPE);
  }

  /** GET /metrics, when metrics are on; peers outside config.metricsAllowedPeers get 403. */
  get metricsEndpoint(): MetricsEndpoint | undefined {
    if (!this.config.metrics) return undefined;
    const allowed = createAddressMatcher(this.config.metricsAllowedPeers);
    const prometheus = this.#prometheus;
    return {
      handle(req, res) {
        if (!allowed(req.socket.remoteAddress ?? "")) {
          res.writeHead(403, { "content-type": "text/plain" });
          res.end("forbidden\n");
          return;
        }
        prometheus.getMetricsRequestHandler(req, res);
      },
    };
  }

  /**
   * The first step of every call a service serves: a SERVER span (tracing on) and the request
   * duration histogram (metrics on). One per service name, made once.
   */
  serverInterceptor(serviceName: string): CallInterceptor {
    let interceptor = this.#interceptors.get(serviceName);
    if (interceptor === undefined) {
      interceptor = serverTelemetryInterceptor(this.#rpc, this.#serverTracing(serviceName));
      this.#interceptors.set(serviceName, interceptor);
    }
    return interceptor;
  }

  /**
   * Client interceptors for the transports a service calls its peers through: a CLIENT span per
   * call and its traceparent header. Empty with tracing off.
   */
  clientInterceptors(serviceName: string): Interceptor[] {
    const tracing = this.#tracing;
    if (tracing === undefined) return [];
    let interceptor = this.#clientInterceptors.get(serviceName);
    if (interceptor === undefined) {
      interceptor = clientTracingInterceptor(this.#tracer(serviceName), tracing.contextManager, tracing.propagator);
      this.#clientInterceptors.set(serviceName, interceptor);
    }
    return [interceptor];
  }

  /**
   * The trace_id and span_id of the active span, for log lines; undefined with tracing off (the
   * logger then does no work for it).
   */
  get logContext(): (() => LogFields | undefined) | undefined {
    const tracing = this.#tracing;
    if (tracing === undefined) return undefined;
    return () => {
      const span = trace.getSpanContext(tracing.contextManager.active());
      return span === undefined ? undefined : { trace_id: span.traceId, span_id: span.spanId };
    };
  }

  /** Runs fn with no active span (tests; work that must start a trace of its own). */
  detached<T>(fn: () => T): T {
    return this.#tracing === undefined ? fn() : this.#tracing.contextManager.with(ROOT_CONTEXT, fn);
  }

  /** The active context (for tests and code that hands a trace on by hand). */
  activeContext(): Context {
    return this.#tracing?.contextManager.active() ?? ROOT_CONTEXT;
  }

  /** Flushes spans and stops the exporters. */
  async shutdown(): Promise<void> {
    const tracing = this.#tracing;
    if (tracing !== undefined) {
      await tracing.processor.shutdown();
      tracing.contextManager.disable();
    }
    await this.#meterProvider.shutdown();
  }

  /** Flushes spans still buffered (tests, before reading the exporter). */
  async flush(): Promise<void> {
    await this.#tracing?.processor.forceFlush();
  }

  #tracer(serviceName: string): Tracer {
    const tracing = this.#tracing!;
    let tracer = tracing.tracers.get(serviceName);
    if (tracer === undefined) {
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, "service.namespace": SERVICE_NAMESPACE }),
        sampler: tracing.sampler,
        spanProcessors: [tracing.processor],
      });
      tracer = provider.getTracer(SCOPE);
      tracing.tracers.set(serviceName, tracer);
    }
    return tracer;
  }

  #serverTracing(serviceName: string): ServerTracing | undefined {
    const tracing = this.#tracing;
    if (tracing === undefined) return undefined;
    return { tracer: this.#tracer(serviceName), contextManager: tracing.contextManager, propagator: tracing.propagator };
  }
}
