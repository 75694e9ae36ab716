// Client certificate identities: the subject alternative names (SANs) that map a verified client
// certificate to a user or role. A URI SAN — a SPIFFE id (spiffe://trust-domain/path) or another
// absolute URI — matches exactly as written; a DNS SAN matches case-insensitively (stored lower
// case). Each SAN maps to at most one principal in the whole system.
import { invalidArgument } from "@keyhold/server-kit";
import type { SubjectAltNameTypeName } from "../store/records.ts";

export const MAX_URI_SAN_LENGTH = 2048;
export const MAX_DNS_SAN_LENGTH = 253;
/** How many certificate identities one principal may have. */
export const MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL = 100;

export interface ParsedSan {
  readonly san: string;
  readonly type: SubjectAltNameTypeName;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** SPIFFE ID: lower-case trust domain, one or more path segments of [A-Za-z0-9._-], none "." or "..". */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function hasControlOrSpace(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isDnsName(value: string): boolean {
  return value.length <= MAX_DNS_SAN_LENGTH && value.split(".").every((label) => DNS_LABEL.test(label));
}

function requireSpiffeId(value: string, field: string): string {
  if (!value.startsWith("spiffe://")) throw invalidArgument(field, "a SPIFFE id is spiffe://<trust-domain>/<path> (lower-case scheme)");
  const rest = value.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  if (!/^[a-z0-9._-]+$/.test(trustDomain)) throw invalidArgument(field, "a SPIFFE trust domain is lower-case letters, digits, '.', '_' and '-'");
  if (slash < 0 || slash === rest.length - 1) throw invalidArgument(field, "a SPIFFE id needs a path: spiffe://<trust-domain>/<path>");
  if (!SPIFFE_ID.test(value)) throw invalidArgument(field, "a SPIFFE id path is segments of letters, digits, '.', '_' and '-', with no empty segment and no trailing '/'");
  if (rest.slice(slash).split("/").some((segment) => segment === "." || segment === "..")) {
    throw invalidArgument(field, "a SPIFFE id path has no '.' or '..' segments");
  }
  return value;
}

/**
 * Validates a SAN from a request: a URI (with its scheme, without a "URI:" prefix) or a DNS name
 * (no wildcards). INVALID_ARGUMENT names `field`.
 */
export function requireSan(value: string, field: string): ParsedSan {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > MAX_URI_SAN_LENGTH) throw invalidArgument(field, `must be at most ${MAX_URI_SAN_LENGTH} characters`);
  if (hasControlOrSpace(value)) throw invalidArgument(field, "must not contain spaces or control characters");
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const name = value.toLowerCase();
    if (name.includes("*")) throw invalidArgument(field, "wildcard DNS names are not accepted: map each name");
    if (!isDnsName(name)) {
      throw invalidArgument(field, "must be a URI with its scheme (spiffe://trust-domain/path) or a DNS name (labels of letters, digits and '-')");
    }
    return { san: name, type: "dns" };
  }
  if (scheme === "uri" || scheme === "dns") throw invalidArgument(field, `give the SAN value itself, without the "${value.slice(0, 4)}" prefix`);
  if (scheme === "spiffe") return { san: requireSpiffeId(value, field), type: "uri" };
  if (!URL.canParse(value)) throw invalidArgument(field, "is not a valid URI");
  return { san: value, type: "uri" };
}
