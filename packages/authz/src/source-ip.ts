/** The client IP of a transport peer as "ip" (no port; IPv4-mapped IPv6 unwrapped). */
export function sourceIpOf(peer: string): string | undefined {
  if (peer === "") return undefined;
  let address = peer;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed !== null) address = bracketed[1]!;
  else if (/^[0-9.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(":"));
  else if (address.startsWith("ipv4:")) address = address.slice(5).replace(/:\d+$/, "");
  if (address.startsWith("::ffff:") && address.includes(".")) address = address.slice(7);
  return address;
}
