import { ExternalKeyStoreConnectionState, type UpdateExternalKeyStoreRequestSchema, type UpdateExternalKeyStoreResponseSchema } from "@keyhold/proto";
import { KeyholdError, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import { XksError } from "@keyhold/xks";
import type { AppContext } from "../context.ts";
import {
  externalKeyStoreNotFound, validateCredential, validateEndpoint, validateStoreName, validateTls, validateUriPath, wrapSecretAccessKey, wrapTlsClientKey,
} from "../domain/external-key-stores.ts";
import { originOf } from "../domain/xks-proxies.ts";
import type { ExternalKeyStorePatch } from "../store/key-store.ts";
import { authorizedStore, FIELD } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

/**
 * Changes a store's settings. The endpoint and TLS settings only while it is not connected; a new
 * credential or path of a connected store is first checked through the proxy (so a connected
 * store never switches to settings its proxy refuses), as AWS KMS UpdateCustomKeyStore.
 */
export function updateExternalKeyStore(ctx: AppContext): UnaryHandler<typeof UpdateExternalKeyStoreRequestSchema, typeof UpdateExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const store = await authorizedStore(ctx, call, request.externalKeyStoreId, "kms:UpdateExternalKeyStore");
    const connected = store.connectionState === ExternalKeyStoreConnectionState.CONNECTED || store.connectionState === ExternalKeyStoreConnectionState.CONNECTING;
    const patch: { -readonly [K in keyof ExternalKeyStorePatch]: ExternalKeyStorePatch[K] } = {};
    let proxyFacing = false;
    if (request.newExternalKeyStoreName !== undefined) patch.name = validateStoreName(request.newExternalKeyStoreName, "new_external_key_store_name");
    if (request.xksProxyUriEndpoint !== undefined) {
      patch.endpoint = validateEndpoint(request.xksProxyUriEndpoint, "xks_proxy_uri_endpoint");
      if (connected) throw new KeyholdError("EXTERNAL_KEY_STORE_INVALID_STATE", "xks_proxy_uri_endpoint: disconnect the external key store to change its endpoint", { field: "xks_proxy_uri_endpoint" });
      proxyFacing = true;
    }
    if (request.tls !== undefined) {
      const tls = validateTls(request.tls, "tls");
      if (connected) throw new KeyholdError("EXTERNAL_KEY_STORE_INVALID_STATE", "tls: disconnect the external key store to change its TLS settings", { field: "tls" });
      patch.tlsCaPem = tls.caCertificatePem;
      patch.tlsClientCertificatePem = tls.clientCertificatePem;
      patch.wrappedTlsClientKey = await wrapTlsClientKey(ctx.rootKey, store.accountId, store.externalKeyStoreId, tls.clientPrivateKeyPem);
      patch.tlsServerName = tls.serverName;
      proxyFacing = true;
    }
    if (request.xksProxyUriPath !== undefined) {
      patch.uriPath = validateUriPath(request.xksProxyUriPath, "xks_proxy_uri_path");
      proxyFacing = true;
    }
    if (request.xksProxyAuthenticationCredential !== undefined) {
      const credential = validateCredential(request.xksProxyAuthenticationCredential, "xks_proxy_authentication_credential");
      patch.accessKeyId = credential.accessKeyId;
      patch.wrappedSecretAccessKey = await wrapSecretAccessKey(ctx.rootKey, store.accountId, store.externalKeyStoreId, credential.rawSecretAccessKey);
      proxyFacing = true;
    }
    if (Object.keys(patch).length === 0) throw invalidArgument("external_key_store_id", "the request changes nothing: set at least one setting to update");
    if (proxyFacing) patch.updatedAt = new Date(Math.max(ctx.clock.now().getTime(), store.updatedAt.getTime() + 1));
    if (proxyFacing && connected) {
      const candidate = { ...store, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
      try {
        await ctx.xks.checkCandidate(candidate, originOf(call));
      } catch (error) {
        if (error instanceof KeyholdError) throw error;
        const field = patch.accessKeyId !== undefined ? "xks_proxy_authentication_credential" : "xks_proxy_uri_path";
        if (error instanceof XksError && (error.errorName === "AuthenticationFailedException" || error.errorName === "AccessDeniedException" || error.errorName === "InvalidUriPathException")) {
          throw invalidArgument(field, `the XKS proxy refuses the new settings (${error.errorName}); the store keeps its current ones`);
        }
        throw new KeyholdError("EXTERNAL_KEY_STORE_UNAVAILABLE", `${field}: the XKS proxy could not confirm the new settings; the store keeps its current ones`, { field });
      }
    }
    const outcome = await ctx.store.updateExternalKeyStore(store.accountId, store.externalKeyStoreId, patch);
    if (outcome === "missing") throw externalKeyStoreNotFound(FIELD);
    if (outcome === "exists") throw new KeyholdError("ALREADY_EXISTS", "new_external_key_store_name: the account already has an external key store with this name", { field: "new_external_key_store_name" });
    if (proxyFacing) ctx.xks.forget(store.externalKeyStoreId);
    const updated = await ctx.store.getExternalKeyStore(store.accountId, store.externalKeyStoreId);
    if (updated === undefined) throw externalKeyStoreNotFound(FIELD);
    return { externalKeyStore: externalKeyStoreView(updated, ctx.config.region) };
  };
}
