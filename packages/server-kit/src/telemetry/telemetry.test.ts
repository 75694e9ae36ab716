// The telemetry step through real sockets: a SERVER span per call named by its RPC with only the
// rpc.* attributes, ERROR status and code on failure, the caller's traceparent honoured, a hop to
// a peer service in the same trace (CLIENT span, traceparent in the metadata); the duration
// histogram on GET /metrics, refused to peers not allowed; log lines inside a call carry its
// trace_id; nothing of the key id, principal or plaintext a call carries reaches a span or label.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@keyhold/proto";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { bindService } from "../call.ts";
import { invalidArgument } from "../errors.ts";
import { fixedIdentity, identityInterceptor } from "../identity.ts";
import { createInMemoryTransport } from "../in-memory.ts";
import { createJsonLogger, createSilentLogger, type Logger } from "../logger.ts";
import { KeyholdServer } from "../server.ts";
import { Telemetry } from "./telemetry.ts";
import { DEFAULT_METRICS_ALLOWED_PEERS, readTelemetryConfig, type TelemetryConfig } from "./telemetry-config.ts";

const KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab";
const ACCOUNT = "111122223333";
const PRINCIPAL = { accountId: ACCOUNT, krn: `krn:keyhold:iam::${ACCOUNT}:user/alice-telemetry`, kind: "user", name: "alice-telemetry" } as const;
const PLAINTEXT = "plaintext-telemetry-marker";
const SENSITIVE = [KEY_ID, ACCOUNT, "alice-telemetry", PLAINTEXT];

const text = (s: string) => new TextEncoder().encode(s);
const CONFIG: TelemetryConfig = readTelemetryConfig({}, { serviceName: "test" });

function startPair(telemetry: Telemetry, logger: Logger, metricsAllowedPeers?: readonly string[]) {
  // "peer" stands in for a service the front service calls in-process.
  const peer = bindService(EchoService, {
    async echo(request) {
      if (new TextDecoder().decode(request.payload) === "peer-fails") throw invalidArgument("payload", "no");
      return { payload: request.payload };
    },
  });
  const peerClient = createClient(
    EchoService,
    createInMemoryTransport([{ ...peer, interceptors: [telemetry.serverInterceptor("peer-service")] }], [], logger, {
      callingService: "front-service",
      clientInterceptors: telemetry.clientInterceptors("front-service"),
    }),
  );
  const front = bindService(EchoService, {
    async echo(request) {
      const command = new TextDecoder().decode(request.payload);
      logger.info("handling a call");
      if (command.startsWith("hop:")) return peerClient.echo({ payload: text(command.slice(4)) });
      if (command === "invalid") throw invalidArgument("payload", `bad ${KEY_ID}`);
      return { payload: request.payload };
    },
  });
  const telemetryWithPeers = metricsAllowedPeers === undefined ? telemetry : undefined;
  return new KeyholdServer({
    bindings: [{ ...front, interceptors: [telemetry.serverInterceptor("front-service"), identityInterceptor(fixedIdentity(PRINCIPAL))] }],
    interceptors: [],
    logger,
    grpc: { host: "127.0.0.1", port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 1000,
    metrics: (telemetryWithPeers ?? new Telemetry({ ...CONFIG, metricsAllowedPeers: metricsAllowedPeers! })).metricsEndpoint,
  });
}

describe("Telemetry with tracing on", () => {
  const exporter = new InMemorySpanExporter();
  const telemetry = new Telemetry(CONFIG, { spanExporter: exporter });
  const lines: string[] = [];
  const logger = createJsonLogger({ write: (line) => lines.push(line), context: telemetry.logContext });
  let server: KeyholdServer;
  let client: ReturnType<typeof createClient<typeof EchoService>>;
  let httpBase: string;

  before(async () => {
    server = startPair(telemetry, logger);
    const { grpcPort, httpPort } = await server.start();
    client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
    httpBase = `http://127.0.0.1:${httpPort}`;
  });
  after(async () => {
    await server.stop();
    await telemetry.shutdown();
  });

  test("a call is one SERVER span named <package.Service>/<Method> with only rpc.* attributes", async () => {
    exporter.reset();
    await client.echo({ payload: text(`${KEY_ID} ${PLAINTEXT}`) }, { headers: { "x-key-id": KEY_ID } });
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 1);
    const [span] = spans;
    assert.equal(span!.name, `${EchoService.typeName}/Echo`);
    assert.equal(span!.kind, SpanKind.SERVER);
    assert.equal(span!.resource.attributes["service.name"], "front-service");
    assert.deepEqual(span!.attributes, { "rpc.system": "grpc", "rpc.service": EchoService.typeName, "rpc.method": "Echo", "rpc.grpc.status_code": 0 });
    assert.equal(span!.status.code, SpanStatusCode.UNSET);
  });

  test("a failed call's span has status ERROR with the code's name only, and the status code", async () => {
    exporter.reset();
    await assert.rejects(client.echo({ payload: text("invalid") }), (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span!.status.code, SpanStatusCode.ERROR);
    assert.equal(span!.status.message, "InvalidArgument");
    assert.equal(span!.attributes["rpc.grpc.status_code"], Code.InvalidArgument);
    assert.ok(!JSON.stringify(span!.status).includes(KEY_ID));
  });

  test("the caller's traceparent is the parent; a hop to a peer service stays in the trace", async () => {
    exporter.reset();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    await client.echo({ payload: text(`hop:${PLAINTEXT}`) }, { headers: { traceparent: `00-${traceId}-${parentId}-01` } });
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 3, spans.map((s) => s.name).join(", "));
    for (const span of spans) assert.equal(span.spanContext().traceId, traceId);
    const front = spans.find((s) => s.resource.attributes["service.name"] === "front-service" && s.kind === SpanKind.SERVER)!;
    const out = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const peer = spans.find((s) => s.resource.attributes["service.name"] === "peer-service")!;
    assert.equal(front.parentSpanContext?.spanId, parentId);
    assert.equal(out.parentSpanContext?.spanId, front.spanContext().spanId);
    assert.equal(out.resource.attributes["service.name"], "front-service");
    assert.equal(peer.parentSpanContext?.spanId, out.spanContext().spanId);
    assert.equal(peer.kind, SpanKind.SERVER);
  });

  test("a peer's failure marks both the CLIENT and the peer's SERVER span", async () => {
    exporter.reset();
    await assert.rejects(client.echo({ payload: text("hop:peer-fails") }));
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.filter((s) => s.status.code === SpanStatusCode.ERROR).length, 3);
  });

  test("log lines written inside a call carry its trace_id and span_id; others do not", async () => {
    exporter.reset();
    lines.length = 0;
    await client.echo({ payload: text("plain") });
    logger.info("outside any call");
    const [span] = exporter.getFinishedSpans();
    const [inside, outside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(inside!["msg"], "handling a call");
    assert.equal(inside!["trace_id"], span!.spanContext().traceId);
    assert.equal(inside!["span_id"], span!.spanContext().spanId);
    assert.equal(outside!["trace_id"], undefined);
  });

  test("GET /metrics: the duration histogram per method and code, and nothing a call carried", async () => {
    const response = await fetch(`${httpBase}/metrics`);
    assert.equal(response.status, 200);
    const body = await response.text();
    const ok = `rpc_system="grpc",rpc_service="${EchoService.typeName}",rpc_method="Echo",rpc_grpc_status_code="0"`;
    assert.match(body, /# TYPE rpc_server_call_duration histogram/);
    assert.match(body, new RegExp(`rpc_server_call_duration_count\\{${ok.replaceAll(".", "\\.")}\\} [1-9]`));
    assert.match(body, /rpc_server_call_duration_count\{[^}]*rpc_grpc_status_code="3"\} 3\n/, "invalid, and peer-fails in the peer and in the front service");
    assert.match(body, /rpc_server_call_duration_bucket\{[^}]*le="0.001"\} \d+/);
    for (const secret of SENSITIVE) assert.ok(!body.includes(secret), `metrics hold ${secret}`);
    for (const span of exporter.getFinishedSpans()) {
      const json = JSON.stringify({ name: span.name, attributes: span.attributes, status: span.status, events: span.events });
      for (const secret of SENSITIVE) assert.ok(!json.includes(secret), `span holds ${secret}`);
    }
  });
});

describe("Telemetry with the defaults", () => {
  test("tracing is off: no client interceptors, no log context; metrics still count", async () => {
    const telemetry = new Telemetry(CONFIG);
    assert.equal(CONFIG.traces, "off");
    assert.equal(telemetry.tracing, false);
    assert.deepEqual(telemetry.clientInterceptors("x"), []);
    assert.equal(telemetry.logContext, undefined);
    const server = startPair(telemetry, createSilentLogger());
    const { grpcPort, httpPort } = await server.start();
    try {
      const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
      await client.echo({ payload: text("hop:x") });
      const body = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      // The front service's call and the peer's it made (the same RPC here).
      assert.match(body, /rpc_server_call_duration_count\{[^}]*rpc_method="Echo",rpc_grpc_status_code="0"\} 2\n/);
    } finally {
      await server.stop();
      await telemetry.shutdown();
    }
  });

  test("GET /metrics is refused (403) to a peer outside KEYHOLD_METRICS_ALLOWED_PEERS", async () => {
    const server = startPair(new Telemetry(CONFIG), createSilentLogger(), ["10.0.0.0/8"]);
    const { httpPort } = await server.start();
    try {
      assert.equal((await fetch(`http://127.0.0.1:${httpPort}/metrics`)).status, 403);
    } finally {
      await server.stop();
    }
  });

  test("KEYHOLD_METRICS=off: no metrics endpoint for the front door to serve", async () => {
    const telemetry = new Telemetry(readTelemetryConfig({ KEYHOLD_METRICS: "off" }, { serviceName: "test" }));
    assert.equal(telemetry.metricsEndpoint, undefined);
  });
});

describe("readTelemetryConfig", () => {
  test("defaults: traces off, metrics on for loopback and private peers, full sampling when on", () => {
    const config = readTelemetryConfig({}, { serviceName: "keyhold" });
    assert.deepEqual(config, {
      serviceName: "keyhold",
      traces: "off",
      otlpTracesUrl: "http://localhost:4318/v1/traces",
      sampleRatio: 1,
      metrics: true,
      metricsAllowedPeers: DEFAULT_METRICS_ALLOWED_PEERS,
    });
  });

  test("OTLP endpoint, service name, ratio and peers from the environment; bad values refused", () => {
    const config = readTelemetryConfig(
      { KEYHOLD_OTEL_TRACES: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector:4318/", OTEL_SERVICE_NAME: "kh", KEYHOLD_OTEL_SAMPLE_RATIO: "0.25", KEYHOLD_METRICS_ALLOWED_PEERS: "10.1.2.3, fd00::/8" },
      { serviceName: "keyhold" },
    );
    assert.equal(config.traces, "otlp");
    assert.equal(config.otlpTracesUrl, "https://collector:4318/v1/traces");
    assert.equal(config.serviceName, "kh");
    assert.equal(config.sampleRatio, 0.25);
    assert.deepEqual(config.metricsAllowedPeers, ["10.1.2.3", "fd00::/8"]);
    assert.throws(() => readTelemetryConfig({ KEYHOLD_OTEL_TRACES: "jaeger" }, { serviceName: "k" }), /KEYHOLD_OTEL_TRACES/);
    assert.throws(() => readTelemetryConfig({ KEYHOLD_OTEL_SAMPLE_RATIO: "2" }, { serviceName: "k" }), /KEYHOLD_OTEL_SAMPLE_RATIO/);
    assert.throws(() => readTelemetryConfig({ KEYHOLD_METRICS: "maybe" }, { serviceName: "k" }), /KEYHOLD_METRICS/);
    assert.throws(() => readTelemetryConfig({ KEYHOLD_METRICS_ALLOWED_PEERS: "everyone" }, { serviceName: "k" }), /KEYHOLD_METRICS_ALLOWED_PEERS/);
    assert.throws(() => readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector" }, { serviceName: "k" }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});
