// The topology audit cost's parts that run without a topology: the launcher's environment with
// auditing off, the check, the report, and reading /metrics over TLS (a real HTTPS server with
// a development CA's key-service certificate) as the settle step does.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createDevCa } from "@keyhold/server-kit";
import type { AuditCost } from "./audit-cost.ts";
import { ENCRYPT_AUDITED_TO_UNAUDITED_MIN, topologyAuditChecks } from "./checks.ts";
import { waitUntilAuditShipped } from "./keyhold.ts";
import { formatTopologyAuditReport, tlsMetricsReader } from "./topology-audit-cost.ts";
import { topologyEnv } from "./topology-scaling.ts";

test("topologyEnv: KEYHOLD_AUDIT=off when asked, on by default", () => {
  const base = { PATH: "/bin", KEYHOLD_AUDIT: "on" };
  assert.equal(topologyEnv(base, { dataDir: "/tmp/a", replicas: 1, apiKey: "khk_x", audit: "off" })["KEYHOLD_AUDIT"], "off");
  assert.equal(topologyEnv({ PATH: "/bin", KEYHOLD_AUDIT: "off" }, { dataDir: "/tmp/a", replicas: 1, apiKey: "khk_x" })["KEYHOLD_AUDIT"], "on");
});

describe("topologyAuditChecks", () => {
  test(`PASS at ${ENCRYPT_AUDITED_TO_UNAUDITED_MIN}× or more, MISS below, SKIP unmeasured; the name says the budget`, () => {
    const [pass] = topologyAuditChecks(ENCRYPT_AUDITED_TO_UNAUDITED_MIN, 64, 0.35);
    assert.equal(pass!.status, "PASS");
    assert.match(pass!.name, /capped at 0\.35 cores/);
    assert.match(pass!.name, /64 in flight/);
    assert.equal(topologyAuditChecks(ENCRYPT_AUDITED_TO_UNAUDITED_MIN - 0.01, 64, 0.35)[0]!.status, "MISS");
    const [skip] = topologyAuditChecks(undefined, 64, undefined);
    assert.equal(skip!.status, "SKIP");
    assert.match(skip!.name, /key-service uncapped/);
  });
});

describe("formatTopologyAuditReport", () => {
  const cost: AuditCost = {
    concurrency: 64,
    auditedRps: [930, 910, 920, 940],
    unauditedRps: [1000, 990, 1010, 1000],
    ratio: 3700 / 4000,
    blockRange: [0.91, 0.94],
    longestSettleMs: 120,
  };

  test("the ratio, the blocks, every run, the budget and the check", () => {
    const text = formatTopologyAuditReport({
      status: "measured",
      result: { cost, connections: 4, load: { kind: "duration", seconds: 3 }, warmup: { kind: "duration", seconds: 3 }, keyServiceCores: 0.35, uncappedBecause: undefined, checks: topologyAuditChecks(cost.ratio, 64, 0.35) },
    });
    assert.match(text, /audit on \/ audit off req\/s: 0\.93× \(blocks 0\.91–0\.94; on 930, 910, 920, 940; off 1,000, 990, 1,010, 1,000\)/);
    assert.match(text, /capped at 0\.35 cores/);
    assert.match(text, /longest wait 120 ms/);
    assert.match(text, /PASS {2}key-service Encrypt with audit ≥ 0\.85×.*: 0\.93×/);
  });

  test("not measured: why, and the check as SKIP", () => {
    const text = formatTopologyAuditReport({ status: "SKIP", reason: "not installed: redis-server", checks: topologyAuditChecks(undefined, 64, 0.35) });
    assert.match(text, /SKIP — not installed: redis-server/);
    assert.match(text, /SKIP {2}key-service Encrypt with audit.*\(not measured\)/);
  });
});

describe("tlsMetricsReader", () => {
  test("reads a service's /metrics over TLS, trusting the topology's CA and checking the service name; the settle step uses it", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "keyhold-bench-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ca = createDevCa(dir);
    let unshipped = 3;
    const server = createServer({ cert: readFileSync(ca.services["key-service"].certFile), key: readFileSync(ca.services["key-service"].keyFile) }, (req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" }).end(`keyhold_audit_outbox_unshipped{service="key-service"} ${unshipped}\n`);
      unshipped = Math.max(0, unshipped - 1);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const read = tlsMetricsReader(readFileSync(ca.caFile), "key-service");

    assert.match(await read(`${base}/metrics`), /keyhold_audit_outbox_unshipped\{service="key-service"\} 3/);
    await assert.rejects(read(`${base}/nothing`), /GET .*\/nothing: 404/);
    // Another name than the certificate's: the TLS check fails.
    await assert.rejects(tlsMetricsReader(readFileSync(ca.caFile), "no-such-service")(`${base}/metrics`), /does not match|altnames/i);
    // Until the outbox is empty (2, 1, 0 here), the settle step keeps reading.
    const waited = await waitUntilAuditShipped(`${base}/metrics`, 10_000, read);
    assert.ok(waited >= 0);
    assert.equal(unshipped, 0);
  });
});
