// Where a peer's name points: the addresses a peer transport spreads its calls over. A host name
// that resolves to several addresses (a Kubernetes headless Service, a compose service scaled up,
// several A/AAAA records) is several replicas; an IP literal is one.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { parseListenAddress, ServerConfigError } from "./server-config.ts";

/** The IP addresses `host` stands for now (IPv4 and IPv6, in the resolver's order). */
export type PeerResolver = (host: string) => Promise<readonly string[]>;

/** A peer's configured `host:port` (`[v6]:port` for an IPv6 literal), split. */
export interface PeerAddress {
  /** Without brackets. */
  readonly host: string;
  readonly port: number;
}

/** Splits `host:port` as KEYHOLD_*_ADDR are written (config.ts validated them); port 0 is no peer's. */
export function parsePeerAddress(address: string): PeerAddress {
  const { host, port } = parseListenAddress("a peer address", address);
  if (port === 0) throw new ServerConfigError(`a peer address must be host:port with a port from 1 to 65535, got "${address}"`);
  return { host, port };
}

/**
 * The system resolver (node:dns lookup, as a connection would resolve the name: /etc/hosts, then
 * DNS), every address of both families. An IP literal resolves to itself without a lookup.
 */
export function dnsPeerResolver(): PeerResolver {
  return async (host) => {
    if (isIP(host) !== 0) return [host];
    const found = await lookup(host, { all: true, family: 0, order: "verbatim" });
    return found.map((entry) => entry.address);
  };
}
