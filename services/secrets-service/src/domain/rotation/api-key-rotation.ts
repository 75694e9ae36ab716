// Keyhold API key secrets (as Alibaba's RAM secrets for AccessKeys): the value is an API key of
// a named principal, JSON {"principalKrn", "apiKeyId", "apiKey"}. Rotation creates a new key
// through policy-service's IamService; once CURRENT moved, the old key is disabled after the
// secret's grace period (by the scheduler), so applications that cached it keep working until then.
import type { Client } from "@connectrpc/connect";
import { forwardedCallerHeaders } from "@keyhold/authz";
import { ApiKeyStatus, type IamService } from "@keyhold/proto";
import { fromPeerError, KeyholdError, type Principal } from "@keyhold/server-kit";
import type { Clock } from "../../context.ts";
import type { SecretRecord } from "../../store/records.ts";
import type { SecretStore } from "../../store/secret-store.ts";
import { VALUE_KINDS } from "../../store/records.ts";
import { accountRoot } from "../key-peer.ts";
import type { SecretValue } from "../values.ts";
import type { ManagedRotation } from "./managed-steps.ts";

export interface ApiKeyValue {
  readonly principalKrn: string;
  readonly apiKeyId: string;
  readonly apiKey: string;
}

export function parseApiKeyValue(value: SecretValue): ApiKeyValue {
  try {
    const parsed = JSON.parse(value.bytes.toString("utf8")) as Record<string, unknown>;
    const { principalKrn, apiKeyId, apiKey } = parsed;
    if (typeof principalKrn === "string" && typeof apiKeyId === "string" && typeof apiKey === "string") return { principalKrn, apiKeyId, apiKey };
  } catch {
    // below
  }
  throw new KeyholdError("ROTATION_FAILED", "the API key secret's value is not {principalKrn, apiKeyId, apiKey}");
}

function apiKeyValue(value: ApiKeyValue): SecretValue {
  return { kind: VALUE_KINDS.string, bytes: Buffer.from(JSON.stringify(value), "utf8") };
}

/** Creates an API key for `principalKrn` as `actor` (who needs iam:CreateApiKey on it). */
export async function createApiKey(iam: Client<typeof IamService>, actor: Principal, principalKrn: string, description: string, field: string): Promise<SecretValue> {
  try {
    const created = await iam.createApiKey({ principalKrn, description }, { headers: forwardedCallerHeaders(actor) });
    const id = created.apiKey?.apiKeyId;
    if (id === undefined || created.secret === "") throw new KeyholdError("INTERNAL", "CreateApiKey answered no key");
    return apiKeyValue({ principalKrn, apiKeyId: id, apiKey: created.secret });
  } catch (error) {
    const peer = fromPeerError(error, "policy-service");
    if (peer.field === "principal_krn") throw new KeyholdError(peer.reason, peer.message.replace(/^principal_krn:/, `${field}:`), { field });
    throw peer;
  }
}

/** CreateSecret of an API key secret with no value: the first key, made as the caller. */
export async function prepareApiKeySecret(ctx: { readonly iam: Client<typeof IamService> }, caller: Principal, principalKrn: string, field: string): Promise<SecretValue> {
  return createApiKey(ctx.iam, caller, principalKrn, "managed by secrets-service", field);
}

export interface ApiKeyRotationDeps {
  readonly iam: Client<typeof IamService>;
  readonly store: SecretStore;
  readonly clock: Clock;
}

export class ApiKeyRotation implements ManagedRotation {
  private readonly deps: ApiKeyRotationDeps;

  constructor(deps: ApiKeyRotationDeps) {
    this.deps = deps;
  }

  async create(secret: SecretRecord, current: SecretValue): Promise<SecretValue> {
    const { principalKrn } = parseApiKeyValue(current);
    return createApiKey(this.deps.iam, accountRoot(secret.accountId), principalKrn, `managed by secrets-service (${secret.name})`, "secret_id");
  }

  async set(): Promise<void> {
    // The new key is live from its creation.
  }

  async test(secret: SecretRecord, pending: SecretValue): Promise<void> {
    const { principalKrn, apiKeyId } = parseApiKeyValue(pending);
    try {
      let pageToken = "";
      do {
        const page = await this.deps.iam.listApiKeys({ principalKrn, pageSize: 1000, pageToken }, { headers: forwardedCallerHeaders(accountRoot(secret.accountId)) });
        const key = page.apiKeys.find((k) => k.apiKeyId === apiKeyId);
        if (key !== undefined) {
          if (key.status !== ApiKeyStatus.ACTIVE) throw new KeyholdError("ROTATION_FAILED", "the new API key is not active");
          return;
        }
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
    } catch (error) {
      throw fromPeerError(error, "policy-service");
    }
    throw new KeyholdError("ROTATION_FAILED", "the new API key does not exist");
  }

  async finished(secret: SecretRecord, previous: SecretValue): Promise<void> {
    const old = parseApiKeyValue(previous);
    await this.deps.store.addApiKeyRetirement({
      secretId: secret.secretId,
      accountId: secret.accountId,
      principalKrn: old.principalKrn,
      apiKeyId: old.apiKeyId,
      disableAt: new Date(this.deps.clock.now().getTime() + secret.apiKeyGracePeriodSeconds * 1000),
    });
  }
}

/** Disables an old API key whose grace period ended (run by the scheduler). */
export async function disableApiKey(iam: Client<typeof IamService>, accountId: string, apiKeyId: string): Promise<void> {
  try {
    await iam.updateApiKeyStatus({ apiKeyId, status: ApiKeyStatus.DISABLED }, { headers: forwardedCallerHeaders(accountRoot(accountId)) });
  } catch (error) {
    const peer = fromPeerError(error, "policy-service");
    // Already deleted by its owner: nothing left to disable.
    if (peer.reason === "API_KEY_NOT_FOUND") return;
    throw peer;
  }
}
