// GetHealthStatus: the proxy and the HSM behind it, from the (cached) deep check on the test key.
// A check that timed out answers DependencyTimeoutException, a failed one InternalException
// (KMS then tells the customer it cannot reach the external HSM); a slow one reports DEGRADED.
import { parseHealthRequest, XksError } from "@keyhold/xks";
import { noteMetadata, type XksHandler } from "./xks-call.ts";
import { toXksError } from "../http/xks-errors.ts";

export const XKS_PROXY_VENDOR = "Keyhold";
export const XKS_PROXY_MODEL = "Keyhold xki-proxy 0.1.0";

export const getHealthStatus: XksHandler = async (ctx, call) => {
  const request = parseHealthRequest(call.body);
  noteMetadata(call, request.requestMetadata);
  const result = await ctx.health.current();
  call.log["hsmHealth"] = result.status;
  if (result.status === "UNAVAILABLE") {
    const error = toXksError(result.error);
    throw error.errorName === "DependencyTimeoutException" ? error : new XksError("InternalException", `the external HSM is unavailable: ${error.message}`);
  }
  return {
    xksProxyFleetSize: ctx.config.fleetSize,
    xksProxyVendor: XKS_PROXY_VENDOR,
    xksProxyModel: XKS_PROXY_MODEL,
    ekmVendor: ctx.config.ekmVendor,
    ekmFleetDetails: [{ id: ctx.token.label === "" ? "hsm-1" : ctx.token.label, model: ctx.config.ekmModel === "" ? "PKCS#11 token" : ctx.config.ekmModel, healthStatus: result.status }],
  };
};
