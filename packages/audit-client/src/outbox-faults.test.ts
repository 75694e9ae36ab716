// Real storage faults, not injected ones: a full disk (a tiny tmpfs filled up) and files made
// immutable (chattr +i, which stops even root). Both need root; a test skips where its fault
// cannot be produced. Appends must fail with AUDIT_UNAVAILABLE, the outbox must report unhealthy,
// an audited call must fail closed, and the outbox turns healthy by itself once the fault is gone.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { openSync, closeSync, writeSync, rmSync } from "node:fs";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { EchoService, ErrorInfoSchema } from "@keyhold/proto";
import { bindService, createInMemoryTransport, createSilentLogger, KeyholdError, type CallInterceptor } from "@keyhold/server-kit";
import { auditInterceptor } from "./interceptor.ts";
import { Outbox } from "./outbox.ts";
import { outboxEvents, sampleEventBytes, tempDir, waitFor, type TempDir } from "./test-support.ts";

const isAuditUnavailable = (error: unknown) => error instanceof KeyholdError && error.reason === "AUDIT_UNAVAILABLE";

function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Writes zeros until the file system is full. */
function fillDisk(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    closeSync(fd);
  }
}

let handlerRuns = 0;
const echo = bindService(EchoService, {
  async echo(request) {
    handlerRuns += 1;
    return { payload: request.payload };
  },
});
const asAlice: CallInterceptor = (next) => (request, call) => {
  call.principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
  return next(request, call);
};

/** Asserts that an audited call whose handler succeeds fails closed, without its answer. */
async function assertCallFailsClosed(outbox: Outbox): Promise<void> {
  const interceptors = [auditInterceptor({ service: "key-service", actionPrefix: "kms", outbox, clock: { now: () => new Date() }, hmacKey: new Uint8Array(32) }), asAlice];
  const client = createClient(EchoService, createInMemoryTransport([echo], interceptors, createSilentLogger()));
  const runs = handlerRuns;
  const error = await client.echo({ payload: new TextEncoder().encode("secret answer") }).then(
    () => assert.fail("the call answered although its audit event was not recorded"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(handlerRuns, runs + 1, "the handler ran");
  assert.equal(error.code, Code.Unavailable);
  assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "AUDIT_UNAVAILABLE");
}

async function exerciseFault(dir: TempDir, inject: () => void, remove: () => void): Promise<string[]> {
  const health: string[] = [];
  const outbox = await Outbox.open({
    path: dir.file("outbox.db"),
    service: "key-service",
    probeIntervalMs: 20,
    onHealthChange: (healthy, cause) => health.push(healthy ? "healthy" : `unhealthy ${(cause as { code?: string } | undefined)?.code}`),
  });
  try {
    await outbox.append(sampleEventBytes(0));
    inject();
    try {
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => outbox.append(sampleEventBytes(1 + i))));
      assert.ok(results.every((r) => r.status === "rejected" && isAuditUnavailable(r.reason)), "every append during the fault rejects");
      assert.equal(outbox.healthy, false);
      await assertCallFailsClosed(outbox);
    } finally {
      remove();
    }
    // Healthy again without any append: the outbox probes while unhealthy.
    await waitFor(() => outbox.healthy, "the probe to find the file writable again", 5000);
    await outbox.append(sampleEventBytes(1000));
    assert.equal(outbox.healthy, true);
    const ids = (await outboxEvents(outbox)).map((r) => r.event.eventId);
    assert.deepEqual(ids, ["event-0", "event-1000"], "what was committed before the fault is kept; nothing failed is");
  } finally {
    await outbox.close();
  }
  return health;
}

test("a full disk: appends fail closed, and recover when space is freed", async (t) => {
  const dir = tempDir();
  try {
    if (!tryRun("mount", ["-t", "tmpfs", "-o", "size=512k,mode=0700", "keyhold-audit-test", dir.path])) {
      t.skip("cannot mount a tmpfs here (needs root)");
      return;
    }
    try {
      const health = await exerciseFault(dir, () => fillDisk(dir.file("filler")), () => rmSync(dir.file("filler")));
      assert.deepEqual(health, ["unhealthy SQLITE_FULL", "healthy"]);
    } finally {
      execFileSync("umount", [dir.path]);
    }
  } finally {
    dir.remove();
  }
});

test("immutable files (chattr +i): appends fail closed, and recover when writable again", async (t) => {
  const dir = tempDir();
  const files = [dir.file("outbox.db"), dir.file("outbox.db-wal")];
  try {
    const probe = dir.file("probe");
    execFileSync("touch", [probe]);
    if (!tryRun("chattr", ["+i", probe])) {
      t.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)");
      return;
    }
    execFileSync("chattr", ["-i", probe]);
    const health = await exerciseFault(
      dir,
      () => execFileSync("chattr", ["+i", ...files]),
      () => execFileSync("chattr", ["-i", ...files]),
    );
    assert.equal(health.length, 2);
    assert.match(health[0]!, /^unhealthy SQLITE_(IOERR|READONLY|PERM|CANTOPEN)/);
    assert.equal(health[1], "healthy");
  } finally {
    tryRun("chattr", ["-i", ...files]);
    dir.remove();
  }
});
