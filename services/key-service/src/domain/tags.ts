// Tag rules (as AWS KMS): at most 20 per resource, key 1-128 and value 0-128 characters of
// letters, digits, spaces and _ . : / = + - @; keys starting with keyhold: are reserved.
import { invalidArgument } from "@keyhold/server-kit";
import type { TagRecord } from "../store/records.ts";

export const MAX_TAGS_PER_RESOURCE = 20;
const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const RESERVED_PREFIX = "keyhold:";

export function validateTagKey(key: string, field: string): void {
  if (key.length === 0) throw invalidArgument(field, "tag key must not be empty");
  if (key.length > 128) throw invalidArgument(field, "tag key must be at most 128 characters");
  if (!ALLOWED.test(key)) throw invalidArgument(field, "tag key has a character outside letters, digits, spaces and _ . : / = + - @");
  if (key.toLowerCase().startsWith(RESERVED_PREFIX)) throw invalidArgument(field, `tag keys starting with ${RESERVED_PREFIX} are reserved`);
}

export function validateTags(tags: readonly { tagKey: string; tagValue: string }[], field: string): TagRecord[] {
  if (tags.length > MAX_TAGS_PER_RESOURCE) throw invalidArgument(field, `at most ${MAX_TAGS_PER_RESOURCE} tags per resource`);
  const seen = new Set<string>();
  return tags.map((tag, i) => {
    validateTagKey(tag.tagKey, `${field}[${i}].tag_key`);
    if (tag.tagValue.length > 128) throw invalidArgument(`${field}[${i}].tag_value`, "tag value must be at most 128 characters");
    if (!ALLOWED.test(tag.tagValue)) {
      throw invalidArgument(`${field}[${i}].tag_value`, "tag value has a character outside letters, digits, spaces and _ . : / = + - @");
    }
    if (seen.has(tag.tagKey)) throw invalidArgument(`${field}[${i}].tag_key`, "duplicate tag key in the request");
    seen.add(tag.tagKey);
    return { key: tag.tagKey, value: tag.tagValue };
  });
}
