// The first start: with no account in the store, create the management account, a user
// `admin` with AdministratorAccess attached, and an API key for it. The key's secret comes from
// configuration (KEYHOLD_BOOTSTRAP_API_KEY: only its hash is stored) or is generated and handed
// back once, for `keyhold dev` to show and write to <dataDir>/admin-api-key. Later starts
// change nothing.
import type { PolicyStore } from "../store/policy-store.ts";
import type { Clock } from "./clock.ts";
import { formatToken, isWellFormedToken, newHexId, newSecret, parseToken, secretDigest } from "./credentials.ts";
import { managedPolicyKrn, userKrn } from "./names.ts";

export const BOOTSTRAP_ADMIN_USER = "admin";
export const MANAGEMENT_ACCOUNT_NAME = "management";

export interface BootstrapDependencies {
  readonly store: PolicyStore;
  readonly clock: Clock;
  readonly random: (size: number) => Buffer;
}

export interface BootstrapOptions {
  readonly managementAccountId: string;
  /** A well-formed `khk_` API key to install instead of generating one. */
  readonly apiKey: string | undefined;
}

export interface BootstrapResult {
  /** False when the store already had accounts (nothing was changed). */
  readonly created: boolean;
  /** The administrator's API key, when it was generated now (shown once; never stored). */
  readonly credential: string | undefined;
  /** The administrator's API key id, when created now. */
  readonly apiKeyId: string | undefined;
}

export async function bootstrap(deps: BootstrapDependencies, options: BootstrapOptions): Promise<BootstrapResult> {
  const { store, clock, random } = deps;
  if (options.apiKey !== undefined && !isWellFormedToken(options.apiKey, "api-key")) {
    throw new Error("bootstrap API key must be a well-formed khk_<16 hex>_<43 base64url> token");
  }
  return store.transaction(async (tx): Promise<BootstrapResult> => {
    if ((await tx.countAccounts()) > 0) return { created: false, credential: undefined, apiKeyId: undefined };
    const now = clock.now();
    const accountId = options.managementAccountId;
    const admin = userKrn(accountId, BOOTSTRAP_ADMIN_USER);
    await tx.createAccount({ accountId, name: MANAGEMENT_ACCOUNT_NAME, createdAt: now });
    await tx.createPrincipal({ krn: admin, accountId, type: "user", name: BOOTSTRAP_ADMIN_USER, trustPolicy: undefined, createdAt: now });
    await tx.attachPolicy({ principalKrn: admin, policyKrn: managedPolicyKrn("AdministratorAccess"), attachedAt: now }, false);
    let apiKeyId: string;
    let secret: string;
    let credential: string | undefined;
    if (options.apiKey !== undefined) {
      const token = parseToken(options.apiKey)!;
      apiKeyId = token.id;
      secret = token.secret;
      credential = undefined;
    } else {
      apiKeyId = newHexId(random, 8);
      secret = newSecret(random);
      credential = formatToken("api-key", apiKeyId, secret);
    }
    await tx.createApiKey({
      apiKeyId,
      principalKrn: admin,
      accountId,
      description: "bootstrap administrator key",
      status: "active",
      createdAt: now,
      lastUsedAt: undefined,
      secretHash: secretDigest(secret),
    });
    return { created: true, credential, apiKeyId };
  });
}
