// Issue 4: audit-service killed during load loses no client-acknowledged event and duplicates
// none after recovery. In the all-in-one topology audit-service runs inside the `keyhold dev`
// process, so the whole process is SIGKILLed in the middle of a concurrent Encrypt load (with
// the shippers already delivering): strictly harsher than killing audit-service alone, since the
// outboxes, the shippers and the log all die mid-write. The process is restarted on the same
// data directory and ports; every Encrypt the client saw succeed must then be in the log exactly
// once, no trace id may appear twice (acknowledged or not), and the whole log must verify.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AuditService, CryptoService, KeyService, type AuditEvent } from "@keyhold/proto";
import { generateApiKey, withCredential } from "../support/auth.ts";
import { REPO_ROOT } from "../support/tools.ts";
import { freePort } from "@keyhold/server-kit";

/** Concurrent Encrypt callers. */
const WORKERS = 40;
/** Acknowledged Encrypts before the kill (once the shippers have delivered something). */
const KILL_AFTER_ACKS = 300;
/** Longest the load may run while waiting for the kill condition. */
const LOAD_DEADLINE_MS = 20_000;
/** Longest to wait for the restarted process to deliver every acknowledged event. */
const DELIVERY_DEADLINE_MS = 20_000;
const STARTUP_DEADLINE_MS = 15_000;
const POLL_MS = 100;
const CALL_TIMEOUT_MS = 5_000;

const MAIN = join(REPO_ROOT, "packages", "cli", "src", "main.ts");
const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


/** `keyhold dev` as a child process, its stderr kept for failure messages. */
class KeyholdProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private output = "";
  private exitStatus: string | undefined;

  constructor(env: Readonly<Record<string, string>>) {
    // Only this test's KEYHOLD_* settings (say, no inherited KEYHOLD_AUDIT=off); the child is a
    // server, not a test file.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("KEYHOLD_") && name !== "NODE_TEST_CONTEXT" && name !== "NODE_OPTIONS"),
    );
    this.child = spawn(process.execPath, [MAIN, "dev"], { cwd: REPO_ROOT, env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-8_000);
    };
    this.child.stdout!.on("data", keep);
    this.child.stderr!.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitStatus = signal ?? `code ${code}`;
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  describe(): string {
    return `keyhold dev (${this.exitStatus ?? "running"}), last output:\n${this.output}`;
  }

  /** Polls GET /healthz until it answers 200; fails fast if the process exits first. */
  async waitHealthy(httpPort: number): Promise<void> {
    const deadline = Date.now() + STARTUP_DEADLINE_MS;
    for (;;) {
      assert.ok(this.running, `exited before it was healthy: ${this.describe()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      assert.ok(Date.now() < deadline, `not healthy within ${STARTUP_DEADLINE_MS} ms: ${this.describe()}`);
      await pause(POLL_MS);
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
}

describe("audit survives SIGKILL of keyhold dev (audit-service included) during load", () => {
  let dataDir: string | undefined;
  let env: Record<string, string>;
  let httpPort: number;
  let grpcBaseUrl: string;
  const credential = generateApiKey();
  const processes: KeyholdProcess[] = [];
  const sessions: Http2SessionManager[] = [];

  /** A gRPC transport of its own (closed in `after`), authenticated as the bootstrap admin. */
  function transport() {
    const sessionManager = new Http2SessionManager(grpcBaseUrl);
    sessions.push(sessionManager);
    return createGrpcTransport({ baseUrl: grpcBaseUrl, sessionManager, interceptors: [withCredential(credential)] });
  }

  async function start(): Promise<KeyholdProcess> {
    const keyhold = new KeyholdProcess(env);
    processes.push(keyhold);
    await keyhold.waitHealthy(httpPort);
    return keyhold;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-audit-crash-"));
    const grpcPort = await freePort();
    httpPort = await freePort();
    grpcBaseUrl = `http://127.0.0.1:${grpcPort}`;
    env = {
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      KEYHOLD_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      KEYHOLD_LOG_LEVEL: "warn",
      KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
      KEYHOLD_BOOTSTRAP_API_KEY: credential,
    };
  });

  after(async () => {
    for (const session of sessions) session.abort();
    for (const keyhold of processes) await keyhold.kill("SIGKILL");
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  /** Every kms:Encrypt event in the log (all pages). */
  async function encryptEvents(audit: Client<typeof AuditService>): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let pageToken = "";
    do {
      const page = await audit.lookupEvents({ action: "kms:Encrypt", pageSize: 1000, pageToken }, { timeoutMs: CALL_TIMEOUT_MS });
      events.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return events;
  }

  function countByTrace(events: readonly AuditEvent[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const event of events) counts.set(event.traceId, (counts.get(event.traceId) ?? 0) + 1);
    return counts;
  }

  test("no acknowledged Encrypt is lost, none is duplicated, and the log verifies", async (t) => {
    // First life: a key, then concurrent Encrypts until enough are acknowledged and delivered.
    const started = Date.now();
    const first = await start();
    const loadStarted = Date.now();
    const firstTransport = transport();
    const keyId = (await createClient(KeyService, firstTransport).createKey({ description: "audit crash" })).keyMetadata!.keyId;
    const crypto = createClient(CryptoService, firstTransport);
    const firstAudit = createClient(AuditService, firstTransport);

    const acknowledged = new Set<string>();
    const unacknowledged = new Map<string, string>(); // trace id -> error code
    const failedBeforeKill: string[] = [];
    let delivered = false;
    let killed = false;
    let inFlight = 0;
    let inFlightAtKill = 0;
    let loadTimedOut = false;
    const loadDeadline = Date.now() + LOAD_DEADLINE_MS;

    const killIfDue = () => {
      if (killed) return;
      const due = acknowledged.size >= KILL_AFTER_ACKS && delivered;
      loadTimedOut = Date.now() > loadDeadline;
      if (!due && !loadTimedOut) return;
      killed = true;
      inFlightAtKill = inFlight;
      first.child.kill("SIGKILL");
    };

    const worker = async () => {
      const plaintext = randomBytes(32);
      while (!killed) {
        const traceId = hex(16);
        const wasKilled = killed;
        inFlight++;
        try {
          await crypto.encrypt({ keyId, plaintext }, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` }, timeoutMs: CALL_TIMEOUT_MS });
          acknowledged.add(traceId);
        } catch (error) {
          const code = Code[ConnectError.from(error).code] ?? "unknown";
          unacknowledged.set(traceId, code);
          if (!wasKilled && !killed) failedBeforeKill.push(`${code}: ${ConnectError.from(error).rawMessage}`);
        } finally {
          inFlight--;
        }
        killIfDue();
      }
    };

    // Confirms the shippers are delivering before the kill, so it lands mid-stream.
    const deliveryProbe = async () => {
      while (!killed && !delivered) {
        try {
          const page = await firstAudit.lookupEvents({ action: "kms:Encrypt", pageSize: 1 }, { timeoutMs: CALL_TIMEOUT_MS });
          delivered = page.events.length > 0;
        } catch {
          // the process may be dying
        }
        if (!delivered) await pause(POLL_MS);
      }
    };

    await Promise.all([...Array.from({ length: WORKERS }, worker), deliveryProbe()]);
    await first.exited;
    assert.equal(loadTimedOut, false, `within ${LOAD_DEADLINE_MS} ms: ${acknowledged.size} acknowledged, delivery started: ${delivered}`);
    assert.deepEqual(failedBeforeKill.slice(0, 5), [], "Encrypts failed before the kill");
    assert.ok(inFlightAtKill > 0, "the kill landed while calls were in flight");
    assert.ok(unacknowledged.size > 0, "some calls were cut off by the kill");
    const killedAt = Date.now();
    t.diagnostic(`first start ${loadStarted - started} ms, load ${killedAt - loadStarted} ms`);
    t.diagnostic(`killed after ${acknowledged.size} acknowledged Encrypts with ${inFlightAtKill} in flight (${unacknowledged.size} unacknowledged)`);

    // Second life on the same data directory and ports: the shippers resume from the outboxes.
    await start();
    const restarted = Date.now();
    const audit = createClient(AuditService, transport());
    const deliveryDeadline = Date.now() + DELIVERY_DEADLINE_MS;
    let events: AuditEvent[];
    let missing: string[];
    for (;;) {
      events = await encryptEvents(audit);
      const seen = new Set(events.map((e) => e.traceId));
      missing = [...acknowledged].filter((traceId) => !seen.has(traceId));
      if (missing.length === 0 || Date.now() > deliveryDeadline) break;
      await pause(POLL_MS);
    }
    t.diagnostic(`restart ${restarted - killedAt} ms, every acknowledged event found ${Date.now() - restarted} ms later`);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${acknowledged.size} acknowledged Encrypts have no event`);

    // Let in-transit unacknowledged events settle: two equal consecutive scans.
    for (;;) {
      await pause(POLL_MS);
      const again = await encryptEvents(audit);
      if (again.length === events.length) break;
      events = again;
      assert.ok(Date.now() < deliveryDeadline + DELIVERY_DEADLINE_MS, "the Encrypt events never stopped changing");
    }

    const counts = countByTrace(events);
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([traceId, n]) => `${traceId} x${n}`);
    assert.deepEqual(duplicated.slice(0, 10), [], `${duplicated.length} trace ids have more than one event`);
    for (const traceId of acknowledged) assert.equal(counts.get(traceId), 1, `acknowledged ${traceId}: exactly one event`);
    const ids = new Set(events.map((e) => e.eventId));
    assert.equal(ids.size, events.length, "event ids are unique");
    const positions = new Set(events.map((e) => `${e.source}#${e.sourceSequence}`));
    assert.equal(positions.size, events.length, "each outbox position is delivered once");
    const ours = new Set([...acknowledged, ...unacknowledged.keys()]);
    const strangers = events.filter((e) => !ours.has(e.traceId));
    assert.deepEqual(strangers.map((e) => e.traceId), [], "every Encrypt event is one of the calls made");
    const unacknowledgedLogged = [...unacknowledged.keys()].filter((traceId) => counts.has(traceId)).length;
    t.diagnostic(
      `acknowledged ${acknowledged.size}, unacknowledged ${unacknowledged.size} (${unacknowledgedLogged} of them logged anyway), ` +
        `Encrypt events found ${events.length}`,
    );

    const verified = await audit.verifyLog({}, { timeoutMs: 30_000 });
    assert.equal(verified.ok, true, `VerifyLog: ${verified.problem} at ${verified.firstBadIndex}`);
    assert.ok(verified.verifiedRecords >= BigInt(events.length), `VerifyLog covered ${verified.verifiedRecords} records`);
    t.diagnostic(`VerifyLog ok over ${verified.verifiedRecords} records`);
  });
});
