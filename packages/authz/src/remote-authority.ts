// PolicyAuthority over policy-service's internal AuthorizationService (in-process transport in
// the all-in-one mode, gRPC over mTLS when distributed). A WatchChanges stream is kept open;
// while it is down, changesLive is false and caches above this are bypassed.
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { AuthorizationService, PrincipalType, type AuthenticatedPrincipal } from "@keyhold/proto";
import { KeyholdError, type Logger, type PeerIdentity, type Principal } from "@keyhold/server-kit";
import type { AuthorizationAnswer, AuthorizationQuery, PolicyAuthority } from "./authority.ts";

const KIND_BY_TYPE: Record<number, Principal["kind"]> = {
  [PrincipalType.ROOT]: "root",
  [PrincipalType.USER]: "user",
  [PrincipalType.ROLE]: "role",
  [PrincipalType.SERVICE]: "service",
};
const TYPE_BY_KIND: Record<Principal["kind"], PrincipalType> = {
  root: PrincipalType.ROOT,
  user: PrincipalType.USER,
  role: PrincipalType.ROLE,
  service: PrincipalType.SERVICE,
};

function toPrincipal(p: AuthenticatedPrincipal | undefined): Principal {
  if (p === undefined) throw new KeyholdError("INTERNAL", "policy-service returned no principal");
  const resource = p.krn.slice(p.krn.lastIndexOf(":") + 1);
  const slash = resource.indexOf("/");
  const principal: Principal = {
    krn: p.krn,
    accountId: p.accountId,
    kind: KIND_BY_TYPE[p.type] ?? "user",
    name: slash < 0 ? resource : resource.slice(slash + 1),
    // Never reuse the answer longer than policy-service says (a role session's remaining life).
    reusableUntil: new Date(Date.now() + p.cacheSeconds * 1000),
  };
  return p.sessionName === "" ? principal : { ...principal, sessionName: p.sessionName };
}

/** policy-service failures as seen by a caller: its own verdicts pass through, the rest is UNAVAILABLE. */
function translate(error: unknown): KeyholdError {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.Unauthenticated) return new KeyholdError("UNAUTHENTICATED", "invalid credential");
  return new KeyholdError("SERVICE_UNAVAILABLE", "policy-service is unavailable", { cause: error });
}

export interface RemoteAuthorityOptions {
  readonly logger: Logger;
  /** First and maximum delay between attempts to reopen the change stream. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export class RemotePolicyAuthority implements PolicyAuthority {
  private readonly client: Client<typeof AuthorizationService>;
  private readonly logger: Logger;
  private readonly listeners = new Set<(sequence: bigint) => void>();
  private readonly stop = new AbortController();
  private live = false;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private watching: Promise<void> | undefined;
  private firstEvent: { promise: Promise<void>; resolve: () => void };

  constructor(transport: Transport, options: RemoteAuthorityOptions) {
    this.client = createClient(AuthorizationService, transport);
    this.logger = options.logger;
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    let resolve = () => {};
    this.firstEvent = { promise: new Promise<void>((r) => (resolve = r)), resolve: () => resolve() };
  }

  get changesLive(): boolean {
    return this.live;
  }

  /** Opens the change stream; resolves once it is live (or after `timeoutMs`). */
  async start(timeoutMs = 5000): Promise<void> {
    this.watching ??= this.watchLoop();
    await Promise.race([this.firstEvent.promise, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.watching;
  }

  onChange(listener: (sequence: bigint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async authenticate(credential: string): Promise<Principal> {
    try {
      return toPrincipal((await this.client.authenticate({ credential })).principal);
    } catch (error) {
      throw translate(error);
    }
  }

  async authenticateCertificate(identity: PeerIdentity): Promise<Principal> {
    try {
      const response = await this.client.authenticate({ certificateUris: [...identity.uris], certificateDnsNames: [...identity.dnsNames] });
      return toPrincipal(response.principal);
    } catch (error) {
      throw translate(error);
    }
  }

  async authorize(query: AuthorizationQuery): Promise<AuthorizationAnswer> {
    let response;
    try {
      response = await this.client.authorize({
        principal: {
          krn: query.principal.krn,
          accountId: query.principal.accountId,
          type: TYPE_BY_KIND[query.principal.kind],
          sessionName: query.principal.sessionName ?? "",
        },
        action: query.action,
        resource: query.resource,
        encryptionContext: { ...query.encryptionContext },
        sourceIp: query.sourceIp ?? "",
        viaService: query.viaService ?? "",
        secureTransport: query.secureTransport,
      });
    } catch (error) {
      throw translate(error);
    }
    const d = response.decidedBy;
    return {
      allowed: response.allowed,
      reason: response.reason,
      decidedBy:
        d === undefined
          ? undefined
          : { kind: d.kind, policyId: d.policyId, policyName: d.policyName, statementIndex: d.statementIndex, sid: d.sid === "" ? undefined : d.sid },
      dependsOn: {
        encryptionContext: response.dependsOnEncryptionContext,
        sourceIp: response.dependsOnSourceIp,
        time: response.dependsOnTime,
      },
    };
  }

  private notify(sequence: bigint): void {
    for (const listener of this.listeners) listener(sequence);
  }

  private async watchLoop(): Promise<void> {
    let delay = this.retryMinMs;
    while (!this.stop.signal.aborted) {
      try {
        for await (const event of this.client.watchChanges({}, { signal: this.stop.signal })) {
          // Every event, including the first after a reconnect, may follow changes we missed.
          this.live = true;
          delay = this.retryMinMs;
          this.notify(event.sequence);
          this.firstEvent.resolve();
        }
      } catch (error) {
        if (this.stop.signal.aborted) break;
        this.logger.warn("policy change stream failed; caches bypassed until it is back", {
          cause: error instanceof Error ? error.message : typeof error,
        });
      }
      this.live = false;
      this.notify(-1n);
      if (this.stop.signal.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      delay = Math.min(delay * 2, this.retryMaxMs);
    }
    this.live = false;
  }
}
