// Composes the handlers into the services key-service serves.
import { CryptoService, KeyService, SealService } from "@keyhold/proto";
import { bindService, type CallInterceptor, type ServiceBinding } from "@keyhold/server-kit";
import type { AppContext } from "./context.ts";
import { createAlias } from "./handlers/create-alias.ts";
import { getSealStatus } from "./handlers/get-seal-status.ts";
import { seal } from "./handlers/seal.ts";
import { unseal } from "./handlers/unseal.ts";
import { createGrant } from "./handlers/create-grant.ts";
import { getKeyPolicy } from "./handlers/get-key-policy.ts";
import { listGrants } from "./handlers/list-grants.ts";
import { putKeyPolicy } from "./handlers/put-key-policy.ts";
import { retireGrant } from "./handlers/retire-grant.ts";
import { revokeGrant } from "./handlers/revoke-grant.ts";
import { createKey } from "./handlers/create-key.ts";
import { decrypt } from "./handlers/decrypt.ts";
import { deleteAlias } from "./handlers/delete-alias.ts";
import { disableKey } from "./handlers/disable-key.ts";
import { enableKey } from "./handlers/enable-key.ts";
import { encrypt } from "./handlers/encrypt.ts";
import { generateDataKey } from "./handlers/generate-data-key.ts";
import { generateDataKeyWithoutPlaintext } from "./handlers/generate-data-key-without-plaintext.ts";
import { generateRandom } from "./handlers/generate-random.ts";
import { generateMac } from "./handlers/generate-mac.ts";
import { verifyMac } from "./handlers/verify-mac.ts";
import { asymmetricDecrypt } from "./handlers/asymmetric-decrypt.ts";
import { asymmetricEncrypt } from "./handlers/asymmetric-encrypt.ts";
import { generateAndExportDataKey } from "./handlers/generate-and-export-data-key.ts";
import { generateDataKeyPair } from "./handlers/generate-data-key-pair.ts";
import { generateDataKeyPairWithoutPlaintext } from "./handlers/generate-data-key-pair-without-plaintext.ts";
import { getPublicKey } from "./handlers/get-public-key.ts";
import { deleteImportedKeyMaterial } from "./handlers/delete-imported-key-material.ts";
import { getParametersForImport } from "./handlers/get-parameters-for-import.ts";
import { importKeyMaterial } from "./handlers/import-key-material.ts";
import { sign } from "./handlers/sign.ts";
import { verify } from "./handlers/verify.ts";
import { getKey } from "./handlers/get-key.ts";
import { listAliases } from "./handlers/list-aliases.ts";
import { listKeys } from "./handlers/list-keys.ts";
import { listResourceTags } from "./handlers/list-resource-tags.ts";
import { reEncrypt } from "./handlers/re-encrypt.ts";
import { tagResource } from "./handlers/tag-resource.ts";
import { untagResource } from "./handlers/untag-resource.ts";
import { updateAlias } from "./handlers/update-alias.ts";
import { updateKey } from "./handlers/update-key.ts";
import { cancelKeyDeletion } from "./handlers/cancel-key-deletion.ts";
import { getKeyVersion } from "./handlers/get-key-version.ts";
import { getRotationPolicy } from "./handlers/get-rotation-policy.ts";
import { listKeyVersions } from "./handlers/list-key-versions.ts";
import { rotateKey } from "./handlers/rotate-key.ts";
import { scheduleKeyDeletion } from "./handlers/schedule-key-deletion.ts";
import { updateDeletionProtection } from "./handlers/update-deletion-protection.ts";
import { updateRotationPolicy } from "./handlers/update-rotation-policy.ts";
import { connectExternalKeyStore } from "./handlers/connect-external-key-store.ts";
import { createExternalKeyStore } from "./handlers/create-external-key-store.ts";
import { deleteExternalKeyStore } from "./handlers/delete-external-key-store.ts";
import { disconnectExternalKeyStore } from "./handlers/disconnect-external-key-store.ts";
import { getExternalKeyStore } from "./handlers/get-external-key-store.ts";
import { listExternalKeyStores } from "./handlers/list-external-key-stores.ts";
import { updateExternalKeyStore } from "./handlers/update-external-key-store.ts";

export function keyServiceBindings(ctx: AppContext, interceptors: readonly CallInterceptor[]): ServiceBinding[] {
  return [
    bindService(KeyService, {
      createKey: createKey(ctx),
      getKey: getKey(ctx),
      listKeys: listKeys(ctx),
      updateKey: updateKey(ctx),
      enableKey: enableKey(ctx),
      disableKey: disableKey(ctx),
      createAlias: createAlias(ctx),
      updateAlias: updateAlias(ctx),
      deleteAlias: deleteAlias(ctx),
      listAliases: listAliases(ctx),
      tagResource: tagResource(ctx),
      untagResource: untagResource(ctx),
      listResourceTags: listResourceTags(ctx),
      createGrant: createGrant(ctx),
      listGrants: listGrants(ctx),
      retireGrant: retireGrant(ctx),
      revokeGrant: revokeGrant(ctx),
      putKeyPolicy: putKeyPolicy(ctx),
      getKeyPolicy: getKeyPolicy(ctx),
      rotateKey: rotateKey(ctx),
      listKeyVersions: listKeyVersions(ctx),
      getKeyVersion: getKeyVersion(ctx),
      updateRotationPolicy: updateRotationPolicy(ctx),
      getRotationPolicy: getRotationPolicy(ctx),
      scheduleKeyDeletion: scheduleKeyDeletion(ctx),
      cancelKeyDeletion: cancelKeyDeletion(ctx),
      updateDeletionProtection: updateDeletionProtection(ctx),
      getPublicKey: getPublicKey(ctx),
      getParametersForImport: getParametersForImport(ctx),
      importKeyMaterial: importKeyMaterial(ctx),
      deleteImportedKeyMaterial: deleteImportedKeyMaterial(ctx),
      createExternalKeyStore: createExternalKeyStore(ctx),
      getExternalKeyStore: getExternalKeyStore(ctx),
      listExternalKeyStores: listExternalKeyStores(ctx),
      updateExternalKeyStore: updateExternalKeyStore(ctx),
      deleteExternalKeyStore: deleteExternalKeyStore(ctx),
      connectExternalKeyStore: connectExternalKeyStore(ctx),
      disconnectExternalKeyStore: disconnectExternalKeyStore(ctx),
    }, interceptors),
    bindService(CryptoService, {
      encrypt: encrypt(ctx),
      decrypt: decrypt(ctx),
      reEncrypt: reEncrypt(ctx),
      generateDataKey: generateDataKey(ctx),
      generateDataKeyWithoutPlaintext: generateDataKeyWithoutPlaintext(ctx),
      generateRandom: generateRandom(ctx),
      generateMac: generateMac(ctx),
      verifyMac: verifyMac(ctx),
      sign: sign(ctx),
      verify: verify(ctx),
      asymmetricEncrypt: asymmetricEncrypt(ctx),
      asymmetricDecrypt: asymmetricDecrypt(ctx),
      generateDataKeyPair: generateDataKeyPair(ctx),
      generateDataKeyPairWithoutPlaintext: generateDataKeyPairWithoutPlaintext(ctx),
      generateAndExportDataKey: generateAndExportDataKey(ctx),
    }, interceptors),
    bindService(SealService, {
      unseal: unseal(ctx),
      getSealStatus: getSealStatus(ctx),
      seal: seal(ctx),
    }, interceptors),
  ];
}
