// A list of IP addresses and CIDR ranges (e.g. the mesh sidecars trusted to forward a client's
// identity), and the test whether an address is in it.
import { BlockList, isIP } from "node:net";

export class AddressListError extends Error {
  override readonly name = "AddressListError";
}

/** Checks one "ip" or "ip/prefix" entry; returns [address, prefix, family]. */
function parseEntry(entry: string): [string, number, "ipv4" | "ipv6"] {
  const slash = entry.indexOf("/");
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) throw new AddressListError(`"${entry}" is not an IP address or CIDR range`);
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const text = entry.slice(slash + 1);
    prefix = /^[0-9]{1,3}$/.test(text) ? Number(text) : NaN;
    if (!(prefix >= 0 && prefix <= max)) throw new AddressListError(`"${entry}": the prefix length must be 0-${max}`);
  }
  return [address, prefix, version === 4 ? "ipv4" : "ipv6"];
}

/** Validates the entries; throws AddressListError naming the first bad one. */
export function validateAddressList(entries: readonly string[]): void {
  for (const entry of entries) parseEntry(entry);
}

/**
 * A matcher for addresses ("10.0.0.7", "::1", IPv4-mapped IPv6 too) against the entries.
 * Anything that is not an IP address does not match.
 */
export function createAddressMatcher(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix, family] = parseEntry(entry);
    list.addSubnet(address, prefix, family);
  }
  return (address) => {
    const version = isIP(address);
    return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6");
  };
}
