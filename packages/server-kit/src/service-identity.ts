// Keyhold services as peers over the network: a service proves who it is with a client
// certificate whose one URI SAN is `spiffe://keyhold.internal/service/<service>`, verified against
// the server's client CA. Such a call is marked as coming from that service (CallContext
// .callingService), exactly as the in-process transports mark calls between services of one
// process. Nothing else can make a call a service's: no header, no forwarded certificate
// (x-forwarded-client-cert), no certificate with other URI SANs besides the service's id, and no
// name outside KEYHOLD_SERVICES.
import type { PeerIdentity } from "./tls.ts";

/** Every Keyhold service, by the name it runs under (`keyhold serve <service>`). */
export const KEYHOLD_SERVICES = ["key-service", "secrets-service", "policy-service", "audit-service", "hsm-gateway", "xki-proxy"] as const;

export type KeyholdServiceName = (typeof KEYHOLD_SERVICES)[number];

/** The SPIFFE trust domain and path of service identities. */
export const SERVICE_SPIFFE_PREFIX = "spiffe://keyhold.internal/service/";

const KNOWN: ReadonlySet<string> = new Set(KEYHOLD_SERVICES);

export function isKeyholdService(name: string): name is KeyholdServiceName {
  return KNOWN.has(name);
}

/** The SPIFFE id of a Keyhold service's certificate. */
export function serviceSpiffeId(service: KeyholdServiceName): string {
  return `${SERVICE_SPIFFE_PREFIX}${service}`;
}

/**
 * The Keyhold service a verified client certificate identifies, or undefined: the certificate's
 * only URI SAN must be a known service's SPIFFE id (DNS SANs do not matter). A certificate
 * carrying a service id next to other URIs is no service's: whoever issued it mixed identities.
 */
export function serviceOfPeerIdentity(identity: PeerIdentity | undefined): KeyholdServiceName | undefined {
  if (identity === undefined || identity.uris.length !== 1) return undefined;
  const uri = identity.uris[0]!;
  if (!uri.startsWith(SERVICE_SPIFFE_PREFIX)) return undefined;
  const name = uri.slice(SERVICE_SPIFFE_PREFIX.length);
  return isKeyholdService(name) ? name : undefined;
}
