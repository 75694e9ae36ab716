// OpenTelemetry across the all-in-one process over real gRPC: one Encrypt call is one trace
// whose spans cover key-service and the policy-service calls it made (the authorization cache
// flushed first, so it has to ask), each named by its RPC and carrying no key id, principal,
// account or plaintext; GET /metrics answers Prometheus text with the call's histogram and the
// outbox lag and cache instruments.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { CryptoService, KeyService } from "@keyhold/proto";
import { createJsonLogger, Telemetry } from "@keyhold/server-kit";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { generateApiKey, withCredential } from "../support/auth.ts";

const PLAINTEXT = "telemetry-e2e-plaintext-marker";

describe("telemetry in keyhold dev", () => {
  let dataDir: string;
  let dev: DevInstance;
  let telemetry: Telemetry;
  const exporter = new InMemorySpanExporter();
  const logLines: string[] = [];
  let credential: string;
  let grpcBaseUrl: string;
  let httpBaseUrl: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-telemetry-"));
    credential = generateApiKey();
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
      },
      process.cwd(),
    );
    telemetry = new Telemetry(config.telemetry, { spanExporter: exporter });
    const logger = createJsonLogger({ level: "debug", write: (line) => logLines.push(line), context: telemetry.logContext });
    dev = await startDev(config, logger, {}, telemetry);
    grpcBaseUrl = `http://127.0.0.1:${dev.addresses.grpcPort}`;
    httpBaseUrl = `http://127.0.0.1:${dev.addresses.httpPort}`;
  });

  after(async () => {
    await dev?.stop();
    await telemetry?.shutdown();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("one Encrypt is one trace spanning key-service and the policy-service calls it made", async () => {
    const transport = createGrpcTransport({ baseUrl: grpcBaseUrl, interceptors: [withCredential(credential)] });
    const keyId = (await createClient(KeyService, transport).createKey({ description: "telemetry e2e" })).keyMetadata!.keyId;
    dev.keyServiceAuthority.flush();
    exporter.reset();
    await createClient(CryptoService, transport).encrypt({ keyId, plaintext: new TextEncoder().encode(PLAINTEXT) });
    await telemetry.flush();

    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === `${CryptoService.typeName}/Encrypt` && s.kind === SpanKind.SERVER);
    assert.ok(root, `an Encrypt server span among ${spans.map((s) => s.name).join(", ")}`);
    assert.equal(root.resource.attributes["service.name"], "key-service");
    assert.equal(root.parentSpanContext, undefined, "the client sent no traceparent: Encrypt starts the trace");
    const traceId = root.spanContext().traceId;
    const trace = spans.filter((s) => s.spanContext().traceId === traceId);

    // key-service asked policy-service (credential and decision: the cache was flushed): a CLIENT
    // span in key-service and its SERVER span in policy-service, parent to child.
    const policyServer = trace.filter((s) => s.kind === SpanKind.SERVER && s.resource.attributes["service.name"] === "policy-service");
    assert.ok(policyServer.length >= 1, `policy-service spans in the Encrypt trace: ${trace.map((s) => `${String(s.resource.attributes["service.name"])} ${s.name}`).join(", ")}`);
    for (const server of policyServer) {
      assert.match(server.name, /^keyhold\.policy\.v1\.AuthorizationService\/(Authenticate|Authorize)$/);
      const client = trace.find((s) => s.spanContext().spanId === server.parentSpanContext?.spanId);
      assert.ok(client, "the policy-service span's parent is in the trace");
      assert.equal(client.kind, SpanKind.CLIENT);
      assert.equal(client.name, server.name);
      assert.equal(client.resource.attributes["service.name"], "key-service");
      assert.equal(client.parentSpanContext?.spanId, root.spanContext().spanId, "called from inside Encrypt");
    }

    // Nothing sensitive in any span of the process.
    assertNoSecrets(spans, [keyId, credential, PLAINTEXT, "000000000001", "admin"]);
    for (const span of trace) {
      assert.deepEqual(Object.keys(span.attributes).sort(), ["rpc.grpc.status_code", "rpc.method", "rpc.service", "rpc.system"]);
    }
  });

  test("audit events reach audit-service in traces of their own (the shipper is asynchronous)", async () => {
    const transport = createGrpcTransport({ baseUrl: grpcBaseUrl, interceptors: [withCredential(credential)] });
    exporter.reset();
    const keyId = (await createClient(KeyService, transport).createKey({})).keyMetadata!.keyId;
    const shipper = dev.shippers["key-service"]!;
    for (let i = 0; i < 200 && (await shipper.metrics()).unshipped > 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    await telemetry.flush();
    const spans = exporter.getFinishedSpans();
    const createKey = spans.find((s) => s.name === `${KeyService.typeName}/CreateKey`)!;
    const append = spans.find((s) => s.resource.attributes["service.name"] === "audit-service" && s.kind === SpanKind.SERVER && s.name.endsWith("/AppendEvents"));
    assert.ok(append, `an AppendEvents span: ${spans.map((s) => s.name).join(", ")}`);
    assert.notEqual(append.spanContext().traceId, createKey.spanContext().traceId);
    assertNoSecrets(spans, [keyId, credential]);
  });

  test("GET /metrics answers Prometheus text with the call histogram, outbox lag and cache instruments", async () => {
    const response = await fetch(`${httpBaseUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await response.text();
    const encrypt = `rpc_system="grpc",rpc_service="${CryptoService.typeName}",rpc_method="Encrypt",rpc_grpc_status_code="0"`;
    assert.match(text, /# TYPE rpc_server_call_duration histogram/);
    assert.match(text, /# UNIT rpc_server_call_duration s/);
    assert.ok(text.includes(`rpc_server_call_duration_count{${encrypt}} 1\n`), text.split("\n").filter((l) => l.includes("Encrypt")).join("\n"));
    assert.ok(text.includes(`rpc_server_call_duration_bucket{${encrypt},le="+Inf"} 1\n`));
    assert.match(text, /keyhold_audit_outbox_unshipped\{service="key-service"\} \d+/);
    assert.match(text, /keyhold_audit_outbox_lag\{service="key-service"\} [0-9.e-]+/);
    assert.match(text, /keyhold_cache_hits_total\{cache="key-material",service="key-service"\} [1-9]/);
    assert.match(text, /keyhold_cache_misses_total\{cache="authorization",service="key-service"\} [1-9]/);
    assert.match(text, /keyhold_cache_entries\{cache="secret-records",service="secrets-service"\} \d+/);
    assert.ok(!text.includes(credential) && !text.includes("000000000001"), "no credential or account in the metrics");
  });
});

function assertNoSecrets(spans: readonly ReadableSpan[], secrets: readonly string[]): void {
  for (const span of spans) {
    const text = JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events, status: span.status });
    for (const secret of secrets) assert.ok(!text.includes(secret), `span ${span.name} holds "${secret.slice(0, 12)}…"`);
  }
}
