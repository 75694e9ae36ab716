// For tests beside the code: secrets-service with the real services it talks to (key-service
// for data keys, policy-service for identities, authorization and API keys), each on its own
// temporary SQLite files, connected by in-process transports exactly as `keyhold dev` connects
// them. The secrets-service clock is a hand-moved clock; the scheduler is ticked by hand.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { InvalidationHub } from "@keyhold/coordination";
import { createKeyServiceApp, readKeyServiceConfig, type KeyServiceApp } from "@keyhold/key-service";
import { createPolicyServiceApp, readPolicyServiceConfig, type PolicyServiceApp } from "@keyhold/policy-service";
import { CryptoService, ErrorInfoSchema, IamService, KeyService, SecretsService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger } from "@keyhold/server-kit";
import { createSecretsServiceApp, type SecretsServiceApp, type SecretsServiceOverrides } from "./app.ts";
import { readSecretsServiceConfig } from "./config.ts";

export const ACCOUNT = "000000000001";
export const REGION = "test-1";
export const START = new Date("2026-01-05T10:00:00.000Z");

/** A clock the test moves by hand. */
export class ManualClock {
  private current: Date;
  constructor(start: Date = START) {
    this.current = start;
  }
  now(): Date {
    return new Date(this.current.getTime());
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export interface Clients {
  readonly secrets: Client<typeof SecretsService>;
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
  readonly iam: Client<typeof IamService>;
}

export interface TestSecretsService {
  readonly app: SecretsServiceApp;
  readonly keyService: KeyServiceApp;
  readonly policyService: PolicyServiceApp;
  readonly clock: ManualClock;
  /** The bootstrap administrator (AdministratorAccess in ACCOUNT). */
  readonly admin: Clients;
  readonly adminKey: string;
  /** Clients with another bearer credential. */
  as(credential: string): Clients;
  /** A user of ACCOUNT with these inline policy statements (or none), and its clients. */
  user(name: string, statements?: readonly object[]): Promise<{ krn: string; apiKey: string; clients: Clients }>;
  /**
   * Another secrets-service replica: the same configuration (so the same PostgreSQL database
   * when KEYHOLD_DATABASE_URL is set), peers and clock, its own store connections and record
   * cache, on an in-process invalidation bus shared with the first; `extra` overrides what the
   * first was given (another Redis bus, say). Closed by close().
   */
  replica(extra?: SecretsServiceOverrides): Promise<Replica>;
  close(): Promise<void>;
}

export interface Replica {
  readonly app: SecretsServiceApp;
  /** A SecretsService client of this replica with a bearer credential. */
  secretsAs(credential: string): Client<typeof SecretsService>;
}

export function apiKeyLike(): string {
  return `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
}

export async function startTestSecretsService(overrides: SecretsServiceOverrides = {}, env: Readonly<Record<string, string>> = {}): Promise<TestSecretsService> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-secrets-service-"));
  const logger = createSilentLogger();
  const adminKey = apiKeyLike();
  const baseEnv = { KEYHOLD_REGION: REGION, KEYHOLD_BOOTSTRAP_API_KEY: adminKey, ...env };
  // The peers keep their SQLite files: a KEYHOLD_DATABASE_URL given here is secrets-service's alone.
  const { KEYHOLD_DATABASE_URL: _secretsDatabase, ...peerEnv } = baseEnv as Record<string, string>;
  const policyService = await createPolicyServiceApp(readPolicyServiceConfig(peerEnv, dir), logger);
  const policyFor = (callingService: string) => createInMemoryTransport(policyService.bindings, policyService.interceptors, logger, { callingService });
  const keyService = await createKeyServiceApp(readKeyServiceConfig(peerEnv, dir), logger, {
    authority: policyService.authority,
    policyTransport: policyFor("key-service"),
  });
  const clock = new ManualClock();
  // Replicas hear each other's record cache invalidations, as through Redis (unless a bus is given).
  const hub = new InvalidationHub();
  const createApp = (extra: SecretsServiceOverrides = {}) =>
    createSecretsServiceApp(
      readSecretsServiceConfig(baseEnv, dir),
      logger,
      {
        authority: policyService.authority,
        keyTransport: createInMemoryTransport(keyService.bindings, [], logger, { callingService: "secrets-service" }),
        iamTransport: policyFor("secrets-service"),
      },
      { clock, bus: hub.bus(), ...overrides, ...extra },
    );
  const app = await createApp();
  const replicas: SecretsServiceApp[] = [];
  const as = (credential: string): Clients => {
    const headers = { authorization: `Bearer ${credential}` };
    const secretsTransport = createInMemoryTransport(app.bindings, [], logger, { headers });
    const keyTransport = createInMemoryTransport(keyService.bindings, [], logger, { headers });
    const policyTransport = createInMemoryTransport(policyService.bindings, policyService.interceptors, logger, { headers });
    return {
      secrets: createClient(SecretsService, secretsTransport),
      keys: createClient(KeyService, keyTransport),
      crypto: createClient(CryptoService, keyTransport),
      iam: createClient(IamService, policyTransport),
    };
  };
  const admin = as(adminKey);
  return {
    app,
    keyService,
    policyService,
    clock,
    admin,
    adminKey,
    as,
    async user(name, statements) {
      const krn = (await admin.iam.createUser({ userName: name })).principal!.krn;
      if (statements !== undefined) {
        const policy = await admin.iam.putPolicy({ policyName: `${name}-policy`, document: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
        await admin.iam.attachPolicy({ principalKrn: krn, policyKrn: policy.policy!.krn });
      }
      const apiKey = (await admin.iam.createApiKey({ principalKrn: krn })).secret;
      return { krn, apiKey, clients: as(apiKey) };
    },
    async replica(extra) {
      const replica = await createApp(extra);
      replicas.push(replica);
      return {
        app: replica,
        secretsAs: (credential) =>
          createClient(SecretsService, createInMemoryTransport(replica.bindings, [], logger, { headers: { authorization: `Bearer ${credential}` } })),
      };
    },
    async close() {
      for (const replica of replicas) await replica.close();
      await app.close();
      await keyService.close();
      await policyService.close();
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

export async function refusal(call: Promise<unknown>): Promise<Refusal> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  if (outcome === undefined) assert.fail("expected the call to be refused, but it succeeded");
  const error = ConnectError.from(outcome.error);
  const info = error.findDetails(ErrorInfoSchema)[0];
  assert.ok(info !== undefined, `expected an ErrorInfo (${error.code}: ${error.rawMessage})`);
  return { code: error.code, reason: info.reason, field: info.metadata["field"] };
}

export function invalid(field: string): Refusal {
  return { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field };
}
