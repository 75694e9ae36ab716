export { isXksErrorName, safeErrorMessage, XKS_ERROR_STATUS, XksError } from "./errors.ts";
export type { XksErrorName } from "./errors.ts";
export { ciphertextDataIntegrityValue, hsmAad, MAX_CIPHERTEXT_METADATA_BYTES } from "./integrity.ts";
export { MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES, parseDecryptRequest, parseEncryptRequest, parseHealthRequest, parseMetadataRequest } from "./messages.ts";
export type { DecryptRequest, EncryptRequest, HealthRequest, MetadataRequest, RequestMetadata } from "./messages.ts";
export { EXTERNAL_KEY_ID, normalizePrefix, parseXksPath, xksPath } from "./paths.ts";
export type { XksOperation, XksRoute } from "./paths.ts";
export { DEFAULT_XKS_TIMEOUT_MS, XKS_SIGNING_SERVICE, XksClient, XksTransportError } from "./client.ts";
export type { XksClientOptions, XksDecryptInput, XksEncryptInput, XksEncryptOutput, XksHealth, XksKeyMetadata, XksTlsOptions, XksTransportFailure } from "./client.ts";
