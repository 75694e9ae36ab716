// Resource tags, as AWS's services define them: key 1-128 characters and a value up to a
// service's limit, both of letters, digits, spaces and _ . : / = + - @; keys starting with
// keyhold: are reserved; no key twice in one request; at most a service's number per resource.
import { invalidArgument } from "./errors.ts";

export interface TagRules {
  /** Most tags on one resource. */
  readonly maxTags: number;
  /** Longest tag value. */
  readonly maxValueLength: number;
  /** The request's names for a tag's key and value, e.g. "tag_key" / "tag_value". */
  readonly keyField: string;
  readonly valueField: string;
  /** What a tag is on, for messages: "resource", "secret". */
  readonly resource: string;
}

export interface ResourceTag {
  readonly key: string;
  readonly value: string;
}

const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const RESERVED_PREFIX = "keyhold:";
const MAX_KEY_LENGTH = 128;

/** INVALID_ARGUMENT naming `field` unless `key` is an acceptable tag key. */
export function validateTagKey(key: string, field: string): void {
  if (key.length === 0) throw invalidArgument(field, "tag key must not be empty");
  if (key.length > MAX_KEY_LENGTH) throw invalidArgument(field, `tag key must be at most ${MAX_KEY_LENGTH} characters`);
  if (!ALLOWED.test(key)) throw invalidArgument(field, "tag key has a character outside letters, digits, spaces and _ . : / = + - @");
  if (key.toLowerCase().startsWith(RESERVED_PREFIX)) throw invalidArgument(field, `tag keys starting with ${RESERVED_PREFIX} are reserved`);
}

/** The tags of a request (`field`), checked against `rules`; INVALID_ARGUMENT naming the first bad one. */
export function validateResourceTags(tags: readonly ResourceTag[], field: string, rules: TagRules): ResourceTag[] {
  if (tags.length > rules.maxTags) throw invalidArgument(field, `at most ${rules.maxTags} tags per ${rules.resource}`);
  const seen = new Set<string>();
  return tags.map((tag, i) => {
    const keyField = `${field}[${i}].${rules.keyField}`;
    const valueField = `${field}[${i}].${rules.valueField}`;
    validateTagKey(tag.key, keyField);
    if (tag.value.length > rules.maxValueLength) throw invalidArgument(valueField, `tag value must be at most ${rules.maxValueLength} characters`);
    if (!ALLOWED.test(tag.value)) throw invalidArgument(valueField, "tag value has a character outside letters, digits, spaces and _ . : / = + - @");
    if (seen.has(tag.key)) throw invalidArgument(keyField, "duplicate tag key in the request");
    seen.add(tag.key);
    return { key: tag.key, value: tag.value };
  });
}
