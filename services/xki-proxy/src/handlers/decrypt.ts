// Decrypt: AES-256-GCM decryption in the HSM with the HSM AAD rebuilt from the request's AAD and
// ciphertext metadata, so a changed ciphertext, IV, tag, AAD or metadata fails the tag check
// (InvalidCiphertextException). The plaintext buffer is zeroed once encoded.
import { hsmAad, parseDecryptRequest } from "@keyhold/xks";
import { authorize, externalKeyOf, noteMetadata, type XksHandler } from "./xks-call.ts";

export const decrypt: XksHandler = async (ctx, call) => {
  const request = parseDecryptRequest(call.body);
  noteMetadata(call, request.requestMetadata);
  const keyId = externalKeyOf(ctx, call);
  authorize(ctx, call, request.requestMetadata);
  const aad = hsmAad(request.additionalAuthenticatedData, request.ciphertextMetadata);
  const plaintext = await ctx.hsm.decrypt(
    keyId,
    { iv: request.initializationVector, ciphertext: request.ciphertext, tag: request.authenticationTag },
    aad,
    call.deadline,
  );
  try {
    return { plaintext: plaintext.toString("base64") };
  } finally {
    plaintext.fill(0);
  }
};
