// Calls to policy-service on the end caller's behalf: the caller is forwarded (policy-service
// authorizes it again: no confused deputy), and policy-service's verdicts reach the caller as
// they are.
import { forwardedCallerHeaders } from "@keyhold/authz";
import { callerOf, fromPeerError, type CallContext } from "@keyhold/server-kit";

export function asCaller(call: CallContext): { headers: Record<string, string>; signal: AbortSignal } {
  return { headers: forwardedCallerHeaders(callerOf(call)), signal: call.signal };
}

export async function onBehalf<T>(request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    throw fromPeerError(error, "policy-service");
  }
}
