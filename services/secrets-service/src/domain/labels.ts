// Stage labels: the rules, as pure functions over a secret's versions. The store applies the
// result in one transaction. Invariants (checked by the property test): a label sits on at most
// one version; once a secret has a value, CURRENT is on exactly one version.
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";

export const CURRENT = "CURRENT";
export const PREVIOUS = "PREVIOUS";
export const PENDING = "PENDING";
export const BUILT_IN_LABELS: readonly string[] = [CURRENT, PREVIOUS, PENDING];

const SPELLINGS: ReadonlyMap<string, string> = new Map([
  ["CURRENT", CURRENT],
  ["ACSCurrent", CURRENT],
  ["AWSCURRENT", CURRENT],
  ["PREVIOUS", PREVIOUS],
  ["ACSPrevious", PREVIOUS],
  ["AWSPREVIOUS", PREVIOUS],
  ["PENDING", PENDING],
  ["ACSPending", PENDING],
  ["AWSPENDING", PENDING],
]);
const CUSTOM_LABEL = /^[A-Za-z0-9_.@+=-]{1,256}$/;
/** Labels one request may name (AWS: 20 per version). */
export const MAX_LABELS_PER_REQUEST = 20;

/** The canonical label: built-ins in their Keyhold spelling, custom labels as given. */
export function canonicalLabel(value: string, field: string): string {
  const builtIn = SPELLINGS.get(value);
  if (builtIn !== undefined) return builtIn;
  if (!CUSTOM_LABEL.test(value)) throw invalidArgument(field, "must be 1-256 characters of letters, digits and _ . @ + = -");
  return value;
}

export function isBuiltIn(label: string): boolean {
  return BUILT_IN_LABELS.includes(label);
}

/** Version id → its labels. The order of versions is their creation order. */
export type LabelMap = ReadonlyMap<string, readonly string[]>;

export interface LabelLimits {
  readonly maxLabelsPerSecret: number;
}

function mutable(labels: LabelMap): Map<string, string[]> {
  return new Map([...labels].map(([version, set]) => [version, [...set]]));
}

export function versionWith(labels: LabelMap, label: string): string | undefined {
  for (const [version, set] of labels) if (set.includes(label)) return version;
  return undefined;
}

function take(labels: Map<string, string[]>, label: string): string | undefined {
  for (const [version, set] of labels) {
    const at = set.indexOf(label);
    if (at >= 0) {
      set.splice(at, 1);
      return version;
    }
  }
  return undefined;
}

function put(labels: Map<string, string[]>, version: string, label: string): void {
  take(labels, label);
  labels.get(version)!.push(label);
}

/**
 * Moves CURRENT to `version`: the old CURRENT becomes PREVIOUS and PENDING leaves `version`
 * (a finished rotation), as AWS Secrets Manager does.
 */
function moveCurrent(labels: Map<string, string[]>, version: string): void {
  const old = versionWith(labels, CURRENT);
  if (old === version) return;
  put(labels, version, CURRENT);
  if (old !== undefined) put(labels, old, PREVIOUS);
  const set = labels.get(version)!;
  const pending = set.indexOf(PENDING);
  if (pending >= 0) set.splice(pending, 1);
}

function checkLimits(labels: Map<string, string[]>, limits: LabelLimits): void {
  let count = 0;
  for (const set of labels.values()) count += set.length;
  if (count > limits.maxLabelsPerSecret) {
    throw new KeyholdError("LIMIT_EXCEEDED", `version_stages: a secret carries at most ${limits.maxLabelsPerSecret} labels`, { field: "version_stages" });
  }
}

/**
 * The labels after adding version `version` with `stages` (canonical; none means CURRENT). The
 * first value of a secret is always CURRENT, whatever else it is labelled, so CURRENT is on
 * exactly one version from then on.
 */
export function labelsAfterPut(labels: LabelMap, version: string, stages: readonly string[], limits: LabelLimits): Map<string, string[]> {
  if (labels.has(version)) throw new KeyholdError("INTERNAL", "labelsAfterPut: version exists");
  const next = mutable(labels);
  next.set(version, []);
  const wanted = stages.length === 0 ? [CURRENT] : [...new Set(stages)];
  const hasCurrent = versionWith(next, CURRENT) !== undefined;
  for (const label of wanted) {
    if (label === CURRENT) moveCurrent(next, version);
    else put(next, version, label);
  }
  // The first value of a secret is CURRENT whatever else it is labelled.
  if (!hasCurrent && versionWith(next, CURRENT) === undefined) moveCurrent(next, version);
  checkLimits(next, limits);
  return next;
}

/** Adds `labels` to the existing `version` (a repeated PutSecretValue naming more labels). */
export function labelsAfterRelabel(labels: LabelMap, version: string, stages: readonly string[], limits: LabelLimits): Map<string, string[]> {
  const next = mutable(labels);
  if (!next.has(version)) throw new KeyholdError("INTERNAL", "labelsAfterRelabel: no such version");
  for (const label of new Set(stages)) {
    if (label === CURRENT) moveCurrent(next, version);
    else if (!next.get(version)!.includes(label)) put(next, version, label);
  }
  checkLimits(next, limits);
  return next;
}

export interface StageUpdate {
  /** Canonical label. */
  readonly label: string;
  /** Where the label goes; undefined to remove it. */
  readonly moveTo: string | undefined;
  /** Where the caller says the label is now; undefined when adding it. */
  readonly removeFrom: string | undefined;
}

/** UpdateSecretVersionStage: add, move or remove; built-in labels can only be moved. */
export function labelsAfterStageUpdate(labels: LabelMap, update: StageUpdate, limits: LabelLimits): Map<string, string[]> {
  const { label, moveTo, removeFrom } = update;
  if (moveTo === undefined && removeFrom === undefined) {
    throw invalidArgument("move_to_version_id", "name the version to move the label to, or remove_from_version_id to remove it");
  }
  if (moveTo !== undefined && !labels.has(moveTo)) {
    throw new KeyholdError("SECRET_VERSION_NOT_FOUND", "move_to_version_id: secret version not found", { field: "move_to_version_id" });
  }
  if (removeFrom !== undefined && !labels.has(removeFrom)) {
    throw new KeyholdError("SECRET_VERSION_NOT_FOUND", "remove_from_version_id: secret version not found", { field: "remove_from_version_id" });
  }
  const holder = versionWith(labels, label);
  if (holder !== undefined && holder !== moveTo && removeFrom !== holder) {
    throw invalidArgument("remove_from_version_id", `the label ${label} is on version ${holder}: name it to move the label`);
  }
  if (holder === undefined && removeFrom !== undefined) {
    throw invalidArgument("remove_from_version_id", `the label ${label} is not on version ${removeFrom}`);
  }
  if (moveTo === undefined && isBuiltIn(label)) {
    throw invalidArgument("move_to_version_id", `the built-in label ${label} can only be moved to another version, not removed`);
  }
  const next = mutable(labels);
  if (moveTo === undefined) {
    take(next, label);
  } else if (label === CURRENT) {
    moveCurrent(next, moveTo);
  } else {
    put(next, moveTo, label);
  }
  checkLimits(next, limits);
  return next;
}

/**
 * Versions to remove so at most `maxVersions` remain: the oldest without a label (AWS removes
 * deprecated versions beyond its quota). `order` lists version ids oldest first.
 */
export function versionsToPrune(labels: LabelMap, order: readonly string[], maxVersions: number): string[] {
  const excess = order.length - maxVersions;
  if (excess <= 0) return [];
  const prunable = order.filter((version) => (labels.get(version)?.length ?? 0) === 0);
  return prunable.slice(0, excess);
}
