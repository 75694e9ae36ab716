// AddCredential: a SigV4 access key pair accepted under a prefix from now on (beside the others),
// stored sealed by the HSM. A missing access key id or secret is generated; a generated secret
// is returned this once and never again.
import { randomBytes } from "node:crypto";
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { secretFingerprint, type Credential } from "../domain/credentials.ts";
import { accessKeyIdField, credentialMessage, prefixField, secretAccessKeyField } from "./fields.ts";

export function addCredential(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["addCredential"] {
  return async (request) => {
    const prefix = prefixField(request.prefix);
    const accessKeyId = request.accessKeyId === "" ? `AKXKI${randomBytes(10).toString("hex").toUpperCase()}` : accessKeyIdField(request.accessKeyId);
    const generated = request.secretAccessKey === "";
    const secretAccessKey = generated ? randomBytes(32).toString("base64") : secretAccessKeyField(request.secretAccessKey);
    const credential: Credential = { prefix, accessKeyId, secretAccessKey, createTime: ctx.now(), source: "admin" };
    ctx.credentials.add(credential);
    try {
      await ctx.credentialStore.save(ctx.credentials.adminCredentials());
    } catch (error) {
      // Not stored: not accepted either.
      ctx.credentials.remove(prefix, accessKeyId);
      throw error;
    }
    ctx.logger.info("xki credential added", { prefix, accessKeyId });
    return {
      credential: credentialMessage({ prefix, accessKeyId, secretFingerprint: secretFingerprint(secretAccessKey), createTime: credential.createTime, source: "admin" }),
      secretAccessKey: generated ? secretAccessKey : "",
    };
  };
}
