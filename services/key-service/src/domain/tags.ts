// Tag rules (as AWS KMS): at most 20 per resource, key 1-128 and value 0-128 characters (the
// shared rules in server-kit's resource-tags.ts).
import { validateResourceTags } from "@keyhold/server-kit";
import type { TagRecord } from "../store/records.ts";

export { validateTagKey } from "@keyhold/server-kit";

export const MAX_TAGS_PER_RESOURCE = 20;

export function validateTags(tags: readonly { tagKey: string; tagValue: string }[], field: string): TagRecord[] {
  return validateResourceTags(
    tags.map((tag) => ({ key: tag.tagKey, value: tag.tagValue })),
    field,
    { maxTags: MAX_TAGS_PER_RESOURCE, maxValueLength: 128, keyField: "tag_key", valueField: "tag_value", resource: "resource" },
  );
}
