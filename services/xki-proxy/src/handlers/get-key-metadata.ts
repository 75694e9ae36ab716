// GetKeyMetadata: the key's spec, usage and status as the HSM reports them.
import { parseMetadataRequest } from "@keyhold/xks";
import { authorize, externalKeyOf, noteMetadata, type XksHandler } from "./xks-call.ts";

export const getKeyMetadata: XksHandler = async (ctx, call) => {
  const request = parseMetadataRequest(call.body);
  noteMetadata(call, request.requestMetadata);
  const keyId = externalKeyOf(ctx, call);
  authorize(ctx, call, request.requestMetadata);
  const info = await ctx.hsm.describe(keyId, call.deadline);
  return { keySpec: info.keySpec, keyUsage: info.keyUsage, keyStatus: info.status };
};
