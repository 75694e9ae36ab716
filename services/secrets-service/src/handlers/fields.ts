// Request checks shared by several handlers.
import { invalidArgument } from "@keyhold/server-kit";
import { canonicalLabel, MAX_LABELS_PER_REQUEST } from "../domain/labels.ts";
import { validateVersionId } from "../domain/names.ts";

export const MAX_DESCRIPTION_LENGTH = 2048;

export function validateDescription(description: string): string {
  if (description.length > MAX_DESCRIPTION_LENGTH) throw invalidArgument("description", `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  return description;
}

/** A caller's version id, or a generated one when "". */
export function versionIdOrNew(value: string, field: string, newId: () => string): string {
  return value === "" ? newId() : validateVersionId(value, field);
}

export function versionStages(values: readonly string[], field: string): string[] {
  if (values.length > MAX_LABELS_PER_REQUEST) throw invalidArgument(field, `at most ${MAX_LABELS_PER_REQUEST} labels`);
  return [...new Set(values.map((value, i) => canonicalLabel(value, `${field}[${i}]`)))];
}

/** A key reference for kms_key_id: shape only (key-service resolves it). */
export function validateKeyRef(value: string, field: string): string {
  if (value.length > 2048) throw invalidArgument(field, "is too long");
  if (value !== "" && !/^[\x21-\x7e]+$/.test(value)) throw invalidArgument(field, "must be a key id, key krn, alias/<name> or alias krn");
  return value;
}
