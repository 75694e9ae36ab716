// For tests beside the code: key-service on an in-memory SQLite database and a temporary
// root key file, served through an in-memory Connect router transport with the same
// interceptors and error mapping as the real front doors.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { CryptoService, ErrorInfoSchema, KeyService } from "@keyhold/proto";
import { rootCredential, rootOnlyAuthority } from "@keyhold/authz";
import type { HsmClient } from "@keyhold/hsm-client";
import { createInMemoryTransport, createSilentLogger, type Logger, type Principal } from "@keyhold/server-kit";
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "./app.ts";
import { readKeyServiceConfig } from "./config.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./store/sqlite-key-store.ts";
import { startStandInXksProxy, type StandInXksProxy } from "./xks-stand-in-proxy.ts";

export type { StandInXksProxy, XksProxyForTests } from "./xks-stand-in-proxy.ts";

/**
 * "An XKS proxy" for key-service's tests, signed for region test-1. Today the stand-in external
 * key manager; when xki-proxy exports its test factory, this is the one line to change (tests
 * that need faults the stand-in alone offers use startStandInXksProxy directly).
 */
export async function startXksProxyForTests(): Promise<StandInXksProxy> {
  return startStandInXksProxy({ region: "test-1" });
}

export const TEST_ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";

export function rootPrincipal(accountId: string): Principal {
  return { accountId, krn: `krn:keyhold:iam::${accountId}:root`, kind: "root", name: "root" };
}

export interface TestKeyService {
  readonly app: KeyServiceApp;
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
  /** Clients acting as another account's root principal, on the same service. */
  as(accountId: string): { keys: Client<typeof KeyService>; crypto: Client<typeof CryptoService> };
  close(): Promise<void>;
}

export interface TestKeyServiceOptions {
  /**
   * Keep the database (a file) and root key in this directory, which close() leaves in place:
   * a second service on the same directory is the first one restarted.
   */
  readonly dataDir?: string;
  /** hsm-gateway's client (keys with origin HSM); default none (no HSM configured). */
  readonly hsm?: HsmClient;
  /** Default: silent. */
  readonly logger?: Logger;
  /** KEYHOLD_DATABASE_URL: the service runs on this PostgreSQL database instead of SQLite. */
  readonly databaseUrl?: string;
}

/** The background jobs do not run on a timer here: tests call app.jobs.runOnce(). */
export async function startTestKeyService(overrides: KeyServiceOverrides = {}, options: TestKeyServiceOptions = {}): Promise<TestKeyService> {
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), "keyhold-key-service-"));
  const config = readKeyServiceConfig({ KEYHOLD_REGION: "test-1", ...(options.databaseUrl === undefined ? {} : { KEYHOLD_DATABASE_URL: options.databaseUrl }) }, dir);
  const logger = options.logger ?? createSilentLogger();
  const app = await createKeyServiceApp(config, logger, {
    authority: rootOnlyAuthority(),
    // No policy-service here: key policies and grants are covered by the end-to-end tests.
    policyTransport: createRouterTransport(() => {}),
    ...(options.hsm === undefined ? {} : { hsm: options.hsm }),
  }, {
    ...(options.databaseUrl === undefined ? { store: new SqliteKeyStore(openSqliteDatabase(options.dataDir === undefined ? ":memory:" : config.databasePath)) } : {}),
    startJobs: false,
    ...overrides,
  });
  const clientsFor = (accountId: string) => {
    const transport = createInMemoryTransport(app.bindings, [], logger, { headers: { authorization: `Bearer ${rootCredential(accountId)}` } });
    return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
  };
  const main = clientsFor(TEST_ACCOUNT);
  return {
    app,
    keys: main.keys,
    crypto: main.crypto,
    as: clientsFor,
    async close() {
      await app.close();
      if (options.dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a client sees of a refused call: status code, ErrorInfo reason and its "field" metadata. */
export interface Refusal {
  readonly code: Code;
  readonly reason: string | undefined;
  readonly field: string | undefined;
}

/** A Refusal with the message as sent (for checks that different failures look alike). */
export interface DetailedRefusal extends Refusal {
  readonly message: string;
}

/**
 * Awaits a call that must fail and returns what the client sees. Fails the test when the call
 * succeeds, or when the error does not carry exactly one ErrorInfo of domain keyhold.dev (every
 * refusal does; only INTERNAL is sent without one, and no test here expects INTERNAL).
 */
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
  return { code: error.code, reason: info.reason, field: info.metadata["field"], message: error.rawMessage };
}

export async function refusal(call: Promise<unknown>): Promise<Refusal> {
  const { code, reason, field } = await detailedRefusal(call);
  return { code, reason, field };
}

/** INVALID_ARGUMENT naming `field`, the refusal of every request validation rule. */
export function invalid(field: string): Refusal {
  return { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field };
}

/** How many keys and aliases an account has in the store (to check refused calls stored nothing). */
export async function storedCounts(service: TestKeyService, accountId: string = TEST_ACCOUNT): Promise<{ keys: number; aliases: number }> {
  const store = service.app.context.store;
  let keys = 0;
  let aliases = 0;
  let after: string | undefined;
  do {
    const page = await store.listKeys(accountId, after, 1000);
    keys += page.items.length;
    after = page.next;
  } while (after !== undefined);
  do {
    const page = await store.listAliases(accountId, undefined, after, 1000);
    aliases += page.items.length;
    after = page.next;
  } while (after !== undefined);
  return { keys, aliases };
}

/** A clock the test moves by hand. */
export class ManualClock {
  private current: Date;
  constructor(start: Date) {
    this.current = start;
  }
  now(): Date {
    return new Date(this.current.getTime());
  }
  set(to: Date): void {
    this.current = to;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}
