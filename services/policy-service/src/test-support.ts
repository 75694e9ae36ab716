// For tests beside the code: policy-service on an in-memory SQLite database (or the
// PostgreSQL database of env KEYHOLD_DATABASE_URL) and a hand-moved clock, served through in-memory Connect router transports with the app's own interceptors
// (authentication, authorization-required) and the same error mapping as the real front doors.
// Clients act as bearer-token callers, or as a trusted Keyhold service forwarding an end caller.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { forwardedCallerHeaders } from "@keyhold/authz";
import { AuthorizationService, ErrorInfoSchema, IamService, StsService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger, type PeerIdentity, type Principal } from "@keyhold/server-kit";
import { createPolicyServiceApp, type PolicyServiceApp, type PolicyServiceOverrides } from "./app.ts";
import { readPolicyServiceConfig, type Environment } from "./config.ts";
import { formatToken, newSecret, secretDigest } from "./domain/credentials.ts";
import { managedPolicyKrn, rootKrn, userKrn } from "./domain/names.ts";
import type { ManagedPolicyName } from "./domain/policy/index.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./store/sqlite-policy-store.ts";

export const MANAGEMENT_ACCOUNT = "000000000001";
export const ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";
export const REGION = "test-1";
export const KEY_ID = "6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b";
export const START = new Date("2025-06-01T12:00:00.000Z");

export function keyKrn(accountId: string = ACCOUNT, keyId: string = KEY_ID): string {
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

/** Adds request headers to every call of a transport. */
export function withHeaders(transport: Transport, headers: Readonly<Record<string, string>>): Transport {
  const merged = (header: Parameters<Transport["unary"]>[3]): Headers => {
    // HeadersInit is a DOM type this project's lib does not declare; the values are one of these.
    const h = new Headers(header as Headers | Record<string, string> | [string, string][] | undefined);
    for (const [name, value] of Object.entries(headers)) h.set(name, value);
    return h;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => transport.unary(method, signal, timeoutMs, merged(header), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) => transport.stream(method, signal, timeoutMs, merged(header), input, contextValues),
  };
}

export interface Clients {
  readonly iam: Client<typeof IamService>;
  readonly sts: Client<typeof StsService>;
  /** AuthorizationService as an outside client (must be refused). */
  readonly authz: Client<typeof AuthorizationService>;
}

export interface TestUser {
  readonly krn: string;
  readonly accountId: string;
  readonly name: string;
  /** Its API key. */
  readonly token: string;
  readonly principal: Principal;
  readonly clients: Clients;
}

export interface TestPolicyService {
  readonly app: PolicyServiceApp;
  readonly clock: ManualClock;
  /** The bootstrap administrator (management account, AdministratorAccess). */
  readonly admin: Clients;
  readonly adminToken: string;
  /** Clients sending `authorization: Bearer <token>` (or nothing). */
  as(token: string | undefined): Clients;
  /** Clients on a TLS connection whose client certificate verified with these SANs (and no bearer token). */
  asCertificate(identity: PeerIdentity): Clients;
  /** AuthorizationService as the trusted Keyhold service `key-service`, forwarding `endCaller` when given. */
  internal(endCaller?: Principal): Client<typeof AuthorizationService>;
  /** Creates the account in the store (no-op when it exists). */
  account(accountId: string): Promise<void>;
  /** A user with the given policies (managed ones by name, customer ones by krn), and an API key. */
  user(accountId: string, name: string, policies?: readonly string[]): Promise<TestUser>;
  /** An API key for an account's root principal. */
  root(accountId: string): Promise<TestUser>;
  close(): Promise<void>;
}

export interface StartOptions extends PolicyServiceOverrides {
  readonly env?: Environment;
}

export async function startTestPolicyService(options: StartOptions = {}): Promise<TestPolicyService> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-policy-service-"));
  const config = readPolicyServiceConfig({ KEYHOLD_REGION: REGION, ...options.env }, dir);
  const logger = createSilentLogger();
  const clock = options.clock instanceof ManualClock ? options.clock : new ManualClock();
  // An in-memory SQLite store unless the test gave a store or a KEYHOLD_DATABASE_URL.
  const store = options.store ?? (config.databaseUrl === undefined ? new SqlitePolicyStore(openSqliteDatabase(":memory:")) : undefined);
  const app = await createPolicyServiceApp(config, logger, { ...options, ...(store === undefined ? {} : { store }), clock });
  const outside = createInMemoryTransport(app.bindings, app.interceptors, logger);
  const trusted = createInMemoryTransport(app.bindings, app.interceptors, logger, { callingService: "key-service" });
  const clients = (transport: Transport): Clients => ({
    iam: createClient(IamService, transport),
    sts: createClient(StsService, transport),
    authz: createClient(AuthorizationService, transport),
  });
  const as = (token: string | undefined): Clients => clients(token === undefined ? outside : withHeaders(outside, { authorization: `Bearer ${token}` }));
  const asCertificate = (peerIdentity: PeerIdentity): Clients => clients(createInMemoryTransport(app.bindings, app.interceptors, logger, { peerIdentity }));
  const records = app.context.store;
  const account = async (accountId: string): Promise<void> => {
    if ((await records.getAccount(accountId)) === undefined) await records.createAccount({ accountId, name: `account ${accountId}`, createdAt: clock.now() });
  };
  let counter = 0;
  const apiKeyFor = async (principalKrn: string, accountId: string): Promise<string> => {
    counter++;
    const id = counter.toString(16).padStart(16, "e");
    const secret = newSecret(app.context.random);
    await records.createApiKey({
      apiKeyId: id,
      principalKrn,
      accountId,
      description: "test",
      status: "active",
      createdAt: clock.now(),
      lastUsedAt: undefined,
      secretHash: secretDigest(secret),
    });
    return formatToken("api-key", id, secret);
  };
  const adminToken = app.bootstrapCredential ?? options.env?.["KEYHOLD_BOOTSTRAP_API_KEY"];
  assert.ok(adminToken !== undefined, "no bootstrap credential");
  return {
    app,
    clock,
    admin: as(adminToken),
    adminToken,
    as,
    asCertificate,
    internal(endCaller) {
      const transport = endCaller === undefined ? trusted : withHeaders(trusted, forwardedCallerHeaders(endCaller));
      return createClient(AuthorizationService, transport);
    },
    account,
    async user(accountId, name, policies = []) {
      await account(accountId);
      const krn = userKrn(accountId, name);
      await records.createPrincipal({ krn, accountId, type: "user", name, trustPolicy: undefined, createdAt: clock.now() });
      for (const policy of policies) {
        const policyKrn = policy.startsWith("krn:") ? policy : managedPolicyKrn(policy as ManagedPolicyName);
        assert.equal(await records.attachPolicy({ principalKrn: krn, policyKrn, attachedAt: clock.now() }, policy.startsWith("krn:")), "ok");
      }
      const token = await apiKeyFor(krn, accountId);
      return { krn, accountId, name, token, principal: { krn, accountId, kind: "user", name }, clients: as(token) };
    },
    async root(accountId) {
      await account(accountId);
      const krn = rootKrn(accountId);
      const token = await apiKeyFor(krn, accountId);
      return { krn, accountId, name: "root", token, principal: { krn, accountId, kind: "root", name: "root" }, clients: as(token) };
    },
    async close() {
      await app.close();
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

export function notFound(reason: string, field: string): Refusal {
  return { code: Code.NotFound, reason, field };
}

export const DENIED: Refusal = { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined };
export const UNAUTHENTICATED: Refusal = { code: Code.Unauthenticated, reason: "UNAUTHENTICATED", field: undefined };

/** PERMISSION_DENIED ACCESS_DENIED naming the action and the resource. */
export async function assertDenied(call: Promise<unknown>, action: string, resource: string): Promise<void> {
  const refused = await detailedRefusal(call);
  assert.equal(refused.code, Code.PermissionDenied);
  assert.equal(refused.reason, "ACCESS_DENIED");
  assert.equal(refused.message, `access denied: ${action} on ${resource}`);
}

/** A policy document from statements. */
export function documentJson(statements: object | readonly object[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}
