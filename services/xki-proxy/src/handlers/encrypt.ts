// Encrypt: AES-256-GCM in the HSM over the plaintext, with the HSM AAD binding the request's AAD
// and the ciphertext metadata this proxy returns (both lengths included). When the caller asks
// for a ciphertext data integrity value, the result is first decrypted again in the HSM and
// compared with the plaintext (Appendix C): a value is only ever given for a ciphertext that
// decrypts. The plaintext buffers are zeroed when done.
import { ciphertextDataIntegrityValue, hsmAad, parseEncryptRequest, XksError } from "@keyhold/xks";
import { authorize, externalKeyOf, noteMetadata, type XksHandler } from "./xks-call.ts";

/** ciphertextMetadata of this proxy's ciphertexts: format 1 (the spec's AAD layout with both lengths). */
export const CIPHERTEXT_METADATA = Buffer.from([0x01]);

export const encrypt: XksHandler = async (ctx, call) => {
  const request = parseEncryptRequest(call.body);
  try {
    noteMetadata(call, request.requestMetadata);
    const keyId = externalKeyOf(ctx, call);
    authorize(ctx, call, request.requestMetadata);
    const aad = hsmAad(request.additionalAuthenticatedData, CIPHERTEXT_METADATA);
    const sealed = await ctx.hsm.encrypt(keyId, request.plaintext, aad, call.deadline);
    const response: Record<string, string> = {
      ciphertext: sealed.ciphertext.toString("base64"),
      ciphertextMetadata: CIPHERTEXT_METADATA.toString("base64"),
      initializationVector: sealed.iv.toString("base64"),
      authenticationTag: sealed.tag.toString("base64"),
    };
    if (request.wantsIntegrityValue) {
      const check = await ctx.hsm.decrypt(keyId, sealed, aad, call.deadline);
      try {
        if (!check.equals(request.plaintext)) throw new XksError("InternalException", "the HSM's ciphertext did not decrypt to the plaintext: no integrity value given");
      } finally {
        check.fill(0);
      }
      response["ciphertextDataIntegrityValue"] = ciphertextDataIntegrityValue({
        additionalAuthenticatedData: request.additionalAuthenticatedData,
        ciphertextMetadata: CIPHERTEXT_METADATA,
        initializationVector: sealed.iv,
        ciphertext: sealed.ciphertext,
        authenticationTag: sealed.tag,
      }).toString("base64");
    }
    return response;
  } finally {
    request.plaintext.fill(0);
  }
};
