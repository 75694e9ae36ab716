// How a Keyhold service tells another which end caller it acts for. The header is honoured
// only on calls from a trusted peer service (call.callingService set by the transport), never
// from an outside client.
import type { Principal } from "@keyhold/server-kit";

export const FORWARDED_CALLER_HEADER = "x-keyhold-caller";

export function forwardedCallerHeaders(principal: Principal): Record<string, string> {
  const value = { k: principal.krn, a: principal.accountId, t: principal.kind, n: principal.name, s: principal.sessionName };
  return { [FORWARDED_CALLER_HEADER]: Buffer.from(JSON.stringify(value), "utf8").toString("base64url") };
}

const KINDS: ReadonlySet<string> = new Set(["root", "user", "role", "service"]);

export function parseForwardedCaller(header: string): Principal | undefined {
  try {
    const value = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<string, unknown>;
    const { k, a, t, n, s } = value;
    if (typeof k !== "string" || typeof a !== "string" || typeof t !== "string" || typeof n !== "string" || !KINDS.has(t)) return undefined;
    const principal: Principal = { krn: k, accountId: a, kind: t as Principal["kind"], name: n };
    return typeof s === "string" ? { ...principal, sessionName: s } : principal;
  } catch {
    return undefined;
  }
}

/** The identity of a Keyhold service calling with no end caller (e.g. to ask Authorize). */
export function servicePrincipal(serviceName: string): Principal {
  return { krn: `krn:keyhold:iam::keyhold:service/${serviceName}`, accountId: "", kind: "service", name: serviceName };
}
