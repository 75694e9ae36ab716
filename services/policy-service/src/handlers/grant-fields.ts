// Request fields shared by the grant handlers.
import { invalidArgument } from "@keyhold/server-kit";

const GRANT_ID = /^[0-9a-f]{32}$/;

export function requireGrantId(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!GRANT_ID.test(value)) throw invalidArgument(field, "must be 32 lowercase hex digits");
  return value;
}
