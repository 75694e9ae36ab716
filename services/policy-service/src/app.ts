// Builds policy-service from its dependencies. The all-in-one process and a standalone main
// both use createPolicyServiceApp; tests pass overrides (store, clock, randomness, ids).
// The first start bootstraps the management account and its administrator (domain/bootstrap.ts);
// a generated administrator API key is handed out once, as bootstrapCredential.
import { randomBytes } from "node:crypto";
import { authenticationInterceptor, authorizationRequiredInterceptor, CallAccess } from "@keyhold/authz";
import { InProcessInvalidationBus, type InvalidationBus } from "@keyhold/coordination";
import type { CallInterceptor, Logger, ServiceBinding } from "@keyhold/server-kit";
import type { PolicyServiceConfig } from "./config.ts";
import { randomIds, type AppContext, type IdGenerator } from "./context.ts";
import { LocalPolicyAuthority } from "./domain/authority.ts";
import { bootstrap } from "./domain/bootstrap.ts";
import { systemClock, type Clock } from "./domain/clock.ts";
import { AUTHORIZATION_EXEMPT_METHODS, policyServiceBindings } from "./routes.ts";
import type { PolicyStore } from "./store/policy-store.ts";
import { withSharedChanges } from "./store/shared-changes.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./store/sqlite-policy-store.ts";

export interface PolicyServiceOverrides {
  readonly store?: PolicyStore;
  readonly clock?: Clock;
  readonly random?: (size: number) => Buffer;
  readonly ids?: IdGenerator;
  /**
   * Relays committed changes between replicas sharing a database (to their authorities and
   * WatchChanges streams); default in-process (no other replica).
   */
  readonly bus?: InvalidationBus;
}

/** How the service meets its callers (from the server configuration). */
export interface PolicyServiceOptions {
  /**
   * IPs / CIDR ranges of mesh sidecars whose x-forwarded-client-cert is honoured as the caller's
   * certificate identity. Default none.
   */
  readonly trustedProxies?: readonly string[];
}

export interface PolicyServiceApp {
  readonly context: AppContext;
  readonly bindings: readonly ServiceBinding[];
  /** The in-process PolicyAuthority: for this service's own calls and for co-located services. */
  readonly authority: LocalPolicyAuthority;
  /**
   * What a server or transport serving `bindings` installs, in order: authentication (the
   * forwarded caller of a trusted Keyhold service, a bearer credential, or a client certificate),
   * then the check that every handler authorized its call.
   */
  readonly interceptors: readonly CallInterceptor[];
  /**
   * The bootstrap administrator's API key when this start generated it (first start, none
   * configured): show it once and store it safely; never logged. Otherwise undefined.
   */
  readonly bootstrapCredential: string | undefined;
  close(): Promise<void>;
}

export async function createPolicyServiceApp(
  config: PolicyServiceConfig,
  logger: Logger,
  overrides: PolicyServiceOverrides = {},
  options: PolicyServiceOptions = {},
): Promise<PolicyServiceApp> {
  const log = logger.child({ service: "policy-service" });
  const changes = withSharedChanges(
    overrides.store ?? new SqlitePolicyStore(openSqliteDatabase(config.databasePath)),
    overrides.bus ?? new InProcessInvalidationBus(),
    log,
  );
  const store = changes.store;
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? ((size: number) => randomBytes(size));
  const authority = new LocalPolicyAuthority(store, clock, log);
  const context: AppContext = {
    config,
    store,
    authority,
    access: new CallAccess(authority),
    clock,
    random,
    ids: overrides.ids ?? randomIds(random),
    logger: log,
  };
  let boot;
  try {
    boot = bootstrap({ store, clock, random }, { managementAccountId: config.managementAccountId, apiKey: config.bootstrapApiKey });
  } catch (error) {
    authority.close();
    changes.close();
    store.close();
    throw error;
  }
  if (boot.created) {
    log.info("bootstrapped the management account and its administrator", {
      accountId: config.managementAccountId,
      apiKeyId: boot.apiKeyId,
      apiKeySource: boot.credential === undefined ? "configuration" : "generated",
    });
  }
  return {
    context,
    bindings: policyServiceBindings(context),
    authority,
    interceptors: [
      authenticationInterceptor(authority, { trustedProxies: options.trustedProxies ?? [] }),
      authorizationRequiredInterceptor(AUTHORIZATION_EXEMPT_METHODS),
    ],
    bootstrapCredential: boot.credential,
    async close() {
      authority.close();
      changes.close();
      store.close();
    },
  };
}
