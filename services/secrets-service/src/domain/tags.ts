// Tag rules (as AWS Secrets Manager): at most 50 per secret, key 1-128 and value 0-256
// characters (the shared rules in server-kit's resource-tags.ts).
import { validateResourceTags } from "@keyhold/server-kit";
import type { TagRecord } from "../store/records.ts";

export { validateTagKey } from "@keyhold/server-kit";

export const MAX_TAGS_PER_SECRET = 50;

export function validateTags(tags: readonly { key: string; value: string }[], field: string): TagRecord[] {
  return validateResourceTags(tags, field, { maxTags: MAX_TAGS_PER_SECRET, maxValueLength: 256, keyField: "key", valueField: "value", resource: "secret" });
}
