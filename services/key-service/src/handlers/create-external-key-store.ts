import { ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState, type CreateExternalKeyStoreRequestSchema, type CreateExternalKeyStoreResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import { callerOf, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import {
  externalKeyStoreKrn, validateCredential, validateEndpoint, validateStoreName, validateTls, validateUriPath, wrapSecretAccessKey, wrapTlsClientKey,
} from "../domain/external-key-stores.ts";
import { accountExternalKeyStoresKrn } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

/** Creates a DISCONNECTED store; its secret access key and TLS client key are stored wrapped by the root key. */
export function createExternalKeyStore(ctx: AppContext): UnaryHandler<typeof CreateExternalKeyStoreRequestSchema, typeof CreateExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const accountKrn = accountExternalKeyStoresKrn(ctx.config.region, accountId);
    recordAuditDetails(call, { resource: accountKrn });
    await ctx.access.require(call, "kms:CreateExternalKeyStore", accountKrn);
    const name = validateStoreName(request.externalKeyStoreName, "external_key_store_name");
    const endpoint = validateEndpoint(request.xksProxyUriEndpoint, "xks_proxy_uri_endpoint");
    const uriPath = validateUriPath(request.xksProxyUriPath, "xks_proxy_uri_path");
    const credential = validateCredential(request.xksProxyAuthenticationCredential, "xks_proxy_authentication_credential");
    const tls = validateTls(request.tls, "tls");
    const id = ctx.newId();
    const now = ctx.clock.now();
    const record = {
      externalKeyStoreId: id,
      accountId,
      name,
      endpoint,
      uriPath,
      accessKeyId: credential.accessKeyId,
      wrappedSecretAccessKey: await wrapSecretAccessKey(ctx.rootKey, accountId, id, credential.rawSecretAccessKey),
      tlsCaPem: tls.caCertificatePem,
      tlsClientCertificatePem: tls.clientCertificatePem,
      wrappedTlsClientKey: await wrapTlsClientKey(ctx.rootKey, accountId, id, tls.clientPrivateKeyPem),
      tlsServerName: tls.serverName,
      connectionState: ExternalKeyStoreConnectionState.DISCONNECTED,
      connectionErrorCode: ExternalKeyStoreConnectionErrorCode.UNSPECIFIED,
      createdAt: now,
      updatedAt: now,
    };
    if (await ctx.store.createExternalKeyStore(record) === "exists") {
      throw new KeyholdError("ALREADY_EXISTS", "external_key_store_name: the account already has an external key store with this name", { field: "external_key_store_name" });
    }
    recordAuditDetails(call, { resource: externalKeyStoreKrn(ctx.config.region, accountId, id) });
    return { externalKeyStore: externalKeyStoreView(record, ctx.config.region) };
  };
}
