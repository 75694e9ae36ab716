// Tag rules (as AWS Secrets Manager): at most 50 per secret, key 1-128 and value 0-256
// characters of letters, digits, spaces and _ . : / = + - @; keys starting with keyhold: are reserved.
import { invalidArgument } from "@keyhold/server-kit";
import type { TagRecord } from "../store/records.ts";

export const MAX_TAGS_PER_SECRET = 50;
const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const RESERVED_PREFIX = "keyhold:";

export function validateTagKey(key: string, field: string): void {
  if (key.length === 0) throw invalidArgument(field, "tag key must not be empty");
  if (key.length > 128) throw invalidArgument(field, "tag key must be at most 128 characters");
  if (!ALLOWED.test(key)) throw invalidArgument(field, "tag key has a character outside letters, digits, spaces and _ . : / = + - @");
  if (key.toLowerCase().startsWith(RESERVED_PREFIX)) throw invalidArgument(field, `tag keys starting with ${RESERVED_PREFIX} are reserved`);
}

export function validateTags(tags: readonly { key: string; value: string }[], field: string): TagRecord[] {
  if (tags.length > MAX_TAGS_PER_SECRET) throw invalidArgument(field, `at most ${MAX_TAGS_PER_SECRET} tags per secret`);
  const seen = new Set<string>();
  return tags.map((tag, i) => {
    validateTagKey(tag.key, `${field}[${i}].key`);
    if (tag.value.length > 256) throw invalidArgument(`${field}[${i}].value`, "tag value must be at most 256 characters");
    if (!ALLOWED.test(tag.value)) throw invalidArgument(`${field}[${i}].value`, "tag value has a character outside letters, digits, spaces and _ . : / = + - @");
    if (seen.has(tag.key)) throw invalidArgument(`${field}[${i}].key`, "duplicate tag key in the request");
    seen.add(tag.key);
    return { key: tag.key, value: tag.value };
  });
}
