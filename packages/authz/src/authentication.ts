// The first step of every call: establish the caller. In order of precedence:
//   1. a Keyhold service calling in-process (or over its mutually authenticated link): the end
//      caller it forwards, or the service itself;
//   2. a bearer credential (API key or role session): `authorization: Bearer …`;
//   3. a client certificate: the SANs of one that verified against the server's client CA, or,
//      when the transport peer is a trusted mesh proxy, the client identity it forwards in
//      x-forwarded-client-cert (from any other peer that header is ignored);
// else UNAUTHENTICATED. A bearer credential that does not authenticate is refused outright: it
// never falls back to the certificate.
import { createAddressMatcher, KeyholdError, type CallContext, type CallInterceptor, type PeerIdentity } from "@keyhold/server-kit";
import type { PolicyAuthority } from "./authority.ts";
import { FORWARDED_CALLER_HEADER, parseForwardedCaller, servicePrincipal } from "./forwarded-caller.ts";
import { sourceIpOf } from "./source-ip.ts";
import { XFCC_HEADER, xfccPeerIdentity } from "./xfcc.ts";

// The scheme is case-insensitive (RFC 7235 §2.1).
const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

/** At most this many SAN URIs and DNS names each are considered (in certificate order). */
export const MAX_CERTIFICATE_NAMES = 32;

export function unauthenticated(message = "invalid credential"): KeyholdError {
  return new KeyholdError("UNAUTHENTICATED", message);
}

export interface AuthenticationOptions {
  /**
   * IPs and CIDR ranges (e.g. "10.0.0.0/8", "::1") of mesh sidecars whose
   * x-forwarded-client-cert header is taken as the caller's certificate identity. Default none.
   */
  readonly trustedProxies?: readonly string[];
}

function usable(identity: PeerIdentity | undefined): PeerIdentity | undefined {
  if (identity === undefined || (identity.uris.length === 0 && identity.dnsNames.length === 0)) return undefined;
  if (identity.uris.length <= MAX_CERTIFICATE_NAMES && identity.dnsNames.length <= MAX_CERTIFICATE_NAMES) return identity;
  return { uris: identity.uris.slice(0, MAX_CERTIFICATE_NAMES), dnsNames: identity.dnsNames.slice(0, MAX_CERTIFICATE_NAMES) };
}

/**
 * The certificate identity a call presents. From a trusted proxy only what it forwards counts
 * (its own certificate is the proxy's, not the caller's); from anyone else only a verified
 * client certificate of the connection itself.
 */
function certificateIdentity(call: CallContext, isTrustedProxy: (address: string) => boolean): PeerIdentity | undefined {
  const peer = sourceIpOf(call.peerAddress);
  if (peer !== undefined && isTrustedProxy(peer)) {
    const forwarded = call.header(XFCC_HEADER);
    if (forwarded === undefined || forwarded === "") return undefined;
    const identity = xfccPeerIdentity(forwarded);
    if (identity === undefined) throw unauthenticated(`malformed ${XFCC_HEADER}`);
    return usable(identity);
  }
  return usable(call.peerIdentity);
}

export function authenticationInterceptor(authority: PolicyAuthority, options: AuthenticationOptions = {}): CallInterceptor {
  const isTrustedProxy = createAddressMatcher(options.trustedProxies ?? []);
  return (next) => async (request, call) => {
    if (call.callingService !== undefined) {
      const forwarded = call.header(FORWARDED_CALLER_HEADER);
      if (forwarded === undefined) {
        call.principal = servicePrincipal(call.callingService);
      } else {
        const principal = parseForwardedCaller(forwarded);
        if (principal === undefined) throw unauthenticated("malformed forwarded caller");
        call.principal = principal;
      }
      return next(request, call);
    }
    const header = call.header("authorization");
    if (header !== undefined && header !== "") {
      const match = BEARER.exec(header);
      if (match === null) throw unauthenticated();
      call.principal = await authority.authenticate(match[1]!);
      return next(request, call);
    }
    const identity = certificateIdentity(call, isTrustedProxy);
    if (identity === undefined) throw unauthenticated("missing credential: send 'authorization: Bearer <api key>'");
    call.principal = await authority.authenticateCertificate(identity);
    return next(request, call);
  };
}
