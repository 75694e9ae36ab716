// page_size / page_token: an opaque token that names where the next page starts. It is bound
// to the list it came from, so a token from one list is refused by another.
import { invalidArgument } from "./errors.ts";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export function pageSize(value: number): number {
  if (value === 0) return DEFAULT_PAGE_SIZE;
  if (value < 0 || value > MAX_PAGE_SIZE) throw invalidArgument("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
  return value;
}

export function encodePageToken(list: string, after: string | undefined): string {
  if (after === undefined) return "";
  return Buffer.from(JSON.stringify({ l: list, a: after }), "utf8").toString("base64url");
}

export function decodePageToken(list: string, token: string): string | undefined {
  if (token === "") return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (typeof parsed === "object" && parsed !== null && "l" in parsed && "a" in parsed && parsed.l === list && typeof parsed.a === "string") {
      return parsed.a;
    }
  } catch {
    // fall through to the error below
  }
  throw invalidArgument("page_token", "is not a token this list returned");
}
