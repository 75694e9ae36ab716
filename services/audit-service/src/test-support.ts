// For tests beside the code: audit-service on a real SQLite file (or, with KEYHOLD_DATABASE_URL
// in `env`, a PostgreSQL database) and signing key file in a temporary directory (so tests can
// tamper with the store and restart), behind rootOnlyAuthority
// ("root:<account>" credentials), served through in-memory Connect transports with the app's
// own interceptors: outside callers by bearer credential, and key-service as the trusted
// Keyhold service that ships events.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { rootCredential, rootOnlyAuthority } from "@keyhold/authz";
import { AuditEventSchema, AuditIngestService, AuditService, ErrorInfoSchema, type AuditEvent } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger } from "@keyhold/server-kit";
import { createAuditServiceApp, type AuditServiceApp, type AuditServiceOverrides } from "./app.ts";
import { readAuditServiceConfig, type Environment } from "./config.ts";

export const MANAGEMENT_ACCOUNT = "000000000001";
export const ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";
export const REGION = "test-1";
export const SOURCE = "key-service-0123456789abcdef";
export const START = new Date("2025-06-01T12:00:00.000Z");

export function keyKrn(accountId: string = ACCOUNT, keyId = "6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b"): string {
  return `krn:keyhold:kms:${REGION}:${accountId}:key/${keyId}`;
}

/** A clock the test moves by hand. */
export class ManualClock {
  private current: Date;
  constructor(start: Date = START) {
    this.current = start;
  }
  now(): Date {
    return new Date(this.current.getTime());
  }
  set(to: Date): void {
    this.current = to;
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** The fields of an AuditEvent a test sets (nested messages as plain objects). */
export type EventInit = {
  [K in Exclude<keyof AuditEvent, "$typeName" | "$unknown">]?: K extends "time"
    ? { seconds: bigint; nanos: number } | undefined
    : K extends "outcome"
      ? { code: number; reason?: string } | undefined
      : AuditEvent[K];
};

/** A well-formed event of `source` at `sequence` (a successful kms:Encrypt by ACCOUNT's root unless overridden). */
export function makeEvent(sequence: number | bigint, init: Partial<EventInit> = {}, clock: ManualClock = new ManualClock()): AuditEvent {
  const accountId = init.accountId ?? ACCOUNT;
  const at = clock.now().getTime();
  return create(AuditEventSchema, {
    eventId: randomUUID(),
    time: { seconds: BigInt(Math.floor(at / 1000)), nanos: (at % 1000) * 1_000_000 },
    service: "key-service",
    action: "kms:Encrypt",
    principalKrn: `krn:keyhold:iam::${accountId}:root`,
    accountId,
    sourceIp: "10.0.0.7",
    userAgent: "grpc-node-js/1.14",
    requestId: "req-1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    resource: keyKrn(accountId),
    keyVersionId: "a1b2c3d4-0000-4000-8000-000000000001",
    encryptionContext: { tenant: "3f1a".repeat(16), purpose: "9c0d".repeat(16) },
    outcome: { code: 0, reason: "" },
    latencyMicros: 250n,
    source: SOURCE,
    ...init,
    sourceSequence: BigInt(sequence),
  });
}

/** Events first..last (inclusive) of a source. */
export function batch(first: number, last: number, init: Partial<EventInit> = {}, clock?: ManualClock): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let s = first; s <= last; s++) out.push(makeEvent(s, init, clock));
  return out;
}

export interface TestAuditService {
  readonly app: AuditServiceApp;
  readonly dir: string;
  readonly databasePath: string;
  /** The PostgreSQL database when the service runs on one (env KEYHOLD_DATABASE_URL). */
  readonly databaseUrl: string | undefined;
  readonly signingKeyFile: string;
  readonly clock: ManualClock;
  /** AuditService as the root principal of `accountId` (undefined: no credential). */
  as(accountId: string | undefined): Client<typeof AuditService>;
  /** AuditIngestService as the trusted Keyhold service key-service. */
  readonly ingest: Client<typeof AuditIngestService>;
  /** AuditIngestService as an outside caller (an account's root): must be refused. */
  outsideIngest(accountId: string): Client<typeof AuditIngestService>;
  /** Closes the app (signing a last checkpoint) and opens it again on the same files. */
  restart(): Promise<TestAuditService>;
  /** Closes the app but keeps the files (to tamper with them). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions extends AuditServiceOverrides {
  readonly env?: Environment;
  /** Reuse a directory (a restart). */
  readonly dir?: string;
}

export async function startTestAuditService(options: StartOptions = {}): Promise<TestAuditService> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "keyhold-audit-service-"));
  const config = readAuditServiceConfig(
    { KEYHOLD_REGION: REGION, KEYHOLD_MANAGEMENT_ACCOUNT_ID: MANAGEMENT_ACCOUNT, KEYHOLD_AUDIT_CHECKPOINT_INTERVAL_SECONDS: "0", ...options.env },
    dir,
  );
  const logger = createSilentLogger();
  const clock = options.clock instanceof ManualClock ? options.clock : new ManualClock();
  const authority = rootOnlyAuthority();
  const app = await createAuditServiceApp(config, logger, { authority }, { ...options, clock });
  const outside = (accountId: string | undefined) =>
    createInMemoryTransport(app.bindings, app.interceptors, logger, accountId === undefined ? {} : { headers: { authorization: `Bearer ${rootCredential(accountId)}` } });
  const trusted = createInMemoryTransport(app.bindings, app.interceptors, logger, { callingService: "key-service" });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
  };
  return {
    app,
    dir,
    databasePath: config.databasePath,
    databaseUrl: config.databaseUrl,
    signingKeyFile: config.signingKeyFile,
    clock,
    as: (accountId) => createClient(AuditService, outside(accountId)),
    ingest: createClient(AuditIngestService, trusted),
    outsideIngest: (accountId) => createClient(AuditIngestService, outside(accountId)),
    async restart() {
      await stop();
      return startTestAuditService({ ...options, dir, clock });
    },
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a client sees of a refused call: status code, ErrorInfo reason and its "field" metadata. */
export interface Refusal {
  readonly code: Code;
  readonly reason: string | undefined;
  readonly field: string | undefined;
}

export interface DetailedRefusal extends Refusal {
  readonly message: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Awaits a call that must fail with exactly one keyhold.dev ErrorInfo; returns what the client sees. */
export async function detailedRefusal(call: Promise<unknown>): Promise<DetailedRefusal> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  if (outcome === undefined) assert.fail("expected the call to be refused, but it succeeded");
  const error = ConnectError.from(outcome.error);
  const infos = error.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `expected one ErrorInfo, got ${infos.length} (${error.code}: ${error.rawMessage})`);
  const info = infos[0]!;
  assert.equal(info.domain, "keyhold.dev");
  return { code: error.code, reason: info.reason, field: info.metadata["field"], message: error.rawMessage, metadata: info.metadata };
}

export async function refusal(call: Promise<unknown>): Promise<Refusal> {
  const { code, reason, field } = await detailedRefusal(call);
  return { code, reason, field };
}

/** INVALID_ARGUMENT naming `field`. */
export function invalid(field: string): Refusal {
  return { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field };
}

export const DENIED: Refusal = { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined };
export const UNAUTHENTICATED: Refusal = { code: Code.Unauthenticated, reason: "UNAUTHENTICATED", field: undefined };

/** Concatenates an ExportEvents stream into its JSON Lines text. */
export async function exportText(stream: AsyncIterable<{ jsonl: Uint8Array }>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk.jsonl));
  return Buffer.concat(parts).toString("utf8");
}
