// The distributed topology end to end: `keyhold topology` runs policy-service, audit-service,
// key-service ×2 (one shared address, SO_REUSEPORT) and secrets-service as separate processes
// talking gRPC over mutual TLS. Through the public ports only:
//   - a key is created, and Encrypt / Decrypt over many fresh connections to the shared
//     key-service address land on both replicas (the audit trail names each replica's outbox as
//     the events' source);
//   - a secret round trip through secrets-service, which reaches key-service and policy-service
//     over mTLS as itself (key-service's audit events of those calls name secrets-service as the
//     calling service);
//   - audit-service's LookupEvents has the events of every service;
//   - a peer's identity cannot be claimed: a client with no service certificate sending the
//     forwarded-caller header is not honoured;
//   - killing one key-service replica while clients retry idempotent calls: no errors beyond the
//     calls in flight on the killed process, and the survivor serves everything after.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { AuditService, CryptoService, KeyService, SecretsService, type AuditEvent } from "@keyhold/proto";
import { startTestTopology, type TestTopology } from "../support/topology.ts";

let topology: TestTopology;

before(async () => {
  topology = await startTestTopology({ keyServiceReplicas: 2 });
});

after(async () => {
  await topology?.stop();
});

async function eventsOf(audit: Client<typeof AuditService>, action: string): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await audit.lookupEvents({ action, pageSize: 500, pageToken }, { timeoutMs: 10_000 });
    events.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return events;
}

/** Polls until `check` passes on the events of `action` (shipping is asynchronous). */
async function eventually(audit: Client<typeof AuditService>, action: string, check: (events: AuditEvent[]) => boolean, what: string): Promise<AuditEvent[]> {
  const deadline = Date.now() + 30_000;
  let events: AuditEvent[] = [];
  while (Date.now() < deadline) {
    events = await eventsOf(audit, action);
    if (check(events)) return events;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`${what}: not in the audit trail after 30 s (${events.length} ${action} events)`);
}

describe("keyhold topology", () => {
  let keyId: string;

  test("the launcher started every service as its own process", () => {
    const { pids, services } = topology.addresses;
    assert.deepEqual(Object.keys(services).sort(), ["audit-service", "key-service", "policy-service", "secrets-service"]);
    assert.deepEqual(Object.keys(pids).sort(), ["audit-service", "key-service-1", "key-service-2", "policy-service", "secrets-service"]);
    assert.equal(new Set(Object.values(pids)).size, 5);
    assert.ok(!Object.values(pids).includes(process.pid));
  });

  test("Encrypt and Decrypt through the shared key-service address land on both replicas", async () => {
    keyId = (await createClient(KeyService, topology.grpc("key-service")).createKey({ description: "topology e2e" }, { timeoutMs: 10_000 })).keyMetadata!.keyId;
    const plaintext = new TextEncoder().encode("across processes");
    // A fresh connection per round trip: the kernel picks a replica per connection.
    for (let i = 0; i < 24; i++) {
      const crypto = createClient(CryptoService, topology.grpc("key-service"));
      const { ciphertextBlob } = await crypto.encrypt({ keyId, plaintext, encryptionContext: { round: String(i) } }, { timeoutMs: 10_000 });
      const decrypted = await createClient(CryptoService, topology.connect("key-service")).decrypt({ ciphertextBlob, encryptionContext: { round: String(i) } }, { timeoutMs: 10_000 });
      assert.deepEqual(decrypted.plaintext, plaintext);
      assert.ok(decrypted.keyId.endsWith(`/${keyId}`), decrypted.keyId);
    }
    const audit = createClient(AuditService, topology.grpc("audit-service"));
    const encrypts = await eventually(
      audit,
      "kms:Encrypt",
      (events) => new Set(events.filter((e) => e.resource.endsWith(keyId)).map((e) => e.source)).size >= 2,
      "Encrypt events from two key-service replicas",
    );
    const sources = new Set(encrypts.filter((e) => e.resource.endsWith(keyId)).map((e) => e.source));
    assert.ok([...sources].every((source) => source.startsWith("key-service-")), [...sources].join(", "));
    await eventually(audit, "kms:Decrypt", (events) => events.filter((e) => e.resource.endsWith(keyId)).length >= 24, "24 Decrypt events");
    await eventually(audit, "kms:CreateKey", (events) => events.some((e) => e.resource.endsWith(keyId) && e.outcome?.code === 0), "CreateKey");
  });

  test("a secret round trip through secrets-service, which calls key-service and policy-service over mTLS", async () => {
    const secrets = createClient(SecretsService, topology.grpc("secrets-service"));
    const created = await secrets.createSecret({ name: "topology/db-password", secretString: "s3cret-over-mtls" }, { timeoutMs: 15_000 });
    const read = await secrets.getSecretValue({ secretId: "topology/db-password" }, { timeoutMs: 15_000 });
    assert.equal(read.secretString, "s3cret-over-mtls");
    assert.equal(read.krn, created.krn);
    // Through Connect on its HTTP port as well.
    const viaConnect = await createClient(SecretsService, topology.connect("secrets-service")).getSecretValue({ secretId: created.krn }, { timeoutMs: 15_000 });
    assert.equal(viaConnect.secretString, "s3cret-over-mtls");
    const audit = createClient(AuditService, topology.grpc("audit-service"));
    await eventually(audit, "secrets:CreateSecret", (events) => events.some((e) => e.resource === created.krn && e.outcome?.code === 0), "CreateSecret");
    await eventually(audit, "secrets:GetSecretValue", (events) => events.filter((e) => e.resource === created.krn).length >= 2, "GetSecretValue");
    // key-service audited the calls secrets-service made on the caller's behalf, naming it.
    const keyCalls = (await eventsOf(audit, "kms:GenerateDataKey")).concat(await eventsOf(audit, "kms:Decrypt"));
    await eventually(
      audit,
      "kms:Decrypt",
      (events) => events.some((e) => e.callingService === "secrets-service"),
      "a key-service Decrypt made by secrets-service",
    );
    assert.ok(keyCalls.length > 0);
    // The audit trail has every service's events: policy-service's (IAM) and audit-service's own.
    await eventually(audit, "audit:LookupEvents", (events) => events.length > 0, "audit-service's own LookupEvents");
  });

  test("no header makes an outside client a service", async () => {
    const forged: Interceptor = (next) => (request) => {
      // The forwarded-caller header names a principal that does not exist; honoured only from a peer service.
      request.header.set("x-keyhold-caller", Buffer.from(JSON.stringify({ k: "krn:keyhold:iam::999999999999:root", a: "999999999999", t: "root", n: "root" })).toString("base64url"));
      return next(request);
    };
    const keys = createClient(KeyService, topology.grpc("key-service", [forged]));
    const error = ConnectError.from(await keys.listKeys({}, { timeoutMs: 10_000 }).then(() => assert.fail("expected UNAUTHENTICATED"), (e: unknown) => e));
    assert.equal(error.code, Code.Unauthenticated);
  });

  test("killing one key-service replica: clients retrying idempotent calls see no errors beyond the calls in flight", async (t) => {
    const victim = topology.addresses.pids["key-service-2"]!;
    const plaintext = new TextEncoder().encode("keep going");
    const clients = 4;
    let stop = false;
    let succeeded = 0;
    let afterKill = 0;
    let killed = false;
    const failures: string[] = [];
    const loop = async () => {
      // Each client its own connection, to whichever replica the kernel picked.
      const crypto = createClient(CryptoService, topology.retrying("key-service"));
      while (!stop) {
        try {
          const { ciphertextBlob } = await crypto.encrypt({ keyId, plaintext }, { timeoutMs: 10_000 });
          const { plaintext: back } = await crypto.decrypt({ ciphertextBlob }, { timeoutMs: 10_000 });
          assert.deepEqual(back, plaintext);
          succeeded++;
          if (killed) afterKill++;
        } catch (error) {
          failures.push(`${ConnectError.from(error).code}: ${ConnectError.from(error).rawMessage}`);
        }
      }
    };
    const loops = Array.from({ length: clients }, () => loop());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const beforeKill = succeeded;
    process.kill(victim, "SIGKILL");
    killed = true;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    stop = true;
    await Promise.all(loops);
    assert.ok(beforeKill > 0, "no round trips before the kill");
    assert.ok(afterKill >= clients, `only ${afterKill} round trips after the kill`);
    // At most the calls in flight on the killed replica fail (retries usually hide even those).
    assert.ok(failures.length <= clients, `failures: ${failures.join("; ")}`);
    // The survivor serves every new connection.
    for (let i = 0; i < 5; i++) {
      const { ciphertextBlob } = await createClient(CryptoService, topology.grpc("key-service")).encrypt({ keyId, plaintext }, { timeoutMs: 10_000 });
      assert.ok(ciphertextBlob.length > 0);
    }
    assert.match(topology.output(), /key-service-2 \(pid \d+\) exited \(SIGKILL\)/);
    t.diagnostic(`round trips: ${beforeKill} before the kill, ${afterKill} after; failures: ${failures.length} (${failures.join("; ")})`);
  });
});
