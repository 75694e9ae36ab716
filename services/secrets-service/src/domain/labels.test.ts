// The labelling rules as a property test: after any random sequence of operations (puts with
// and without labels, repeated version ids, stage moves, adds and removes, rotations' finish),
// each label is on at most one version and CURRENT on exactly one once a value exists.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import {
  canonicalLabel, CURRENT, labelsAfterPut, labelsAfterRelabel, labelsAfterStageUpdate, PENDING, PREVIOUS, versionsToPrune, versionWith, type LabelMap,
} from "./labels.ts";

const LIMITS = { maxLabelsPerSecret: 20 };

/** A small deterministic PRNG (mulberry32) so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkInvariants(labels: LabelMap, context: string): void {
  const seen = new Map<string, string>();
  for (const [version, set] of labels) {
    assert.equal(new Set(set).size, set.length, `${context}: a label twice on ${version}`);
    for (const label of set) {
      assert.ok(!seen.has(label), `${context}: ${label} on ${seen.get(label)} and ${version}`);
      seen.set(label, version);
    }
  }
  if (labels.size > 0) assert.ok(seen.has(CURRENT), `${context}: no CURRENT although the secret has ${labels.size} versions`);
}

describe("stage labels", () => {
  test("spellings of the built-in labels", () => {
    for (const [spelling, canonical] of [
      ["AWSCURRENT", CURRENT], ["ACSCurrent", CURRENT], ["CURRENT", CURRENT],
      ["AWSPREVIOUS", PREVIOUS], ["ACSPrevious", PREVIOUS], ["AWSPENDING", PENDING], ["ACSPending", PENDING],
      ["blue", "blue"],
    ] as const) {
      assert.equal(canonicalLabel(spelling, "version_stages"), canonical);
    }
    assert.throws(() => canonicalLabel("", "version_stages"), KeyholdError);
    assert.throws(() => canonicalLabel("has space", "version_stages"), KeyholdError);
  });

  test("a put without labels moves CURRENT to it and PREVIOUS to the old CURRENT", () => {
    let labels: LabelMap = labelsAfterPut(new Map(), "v1", [], LIMITS);
    labels = labelsAfterPut(labels, "v2", [], LIMITS);
    assert.deepEqual([...labels], [["v1", [PREVIOUS]], ["v2", [CURRENT]]]);
    labels = labelsAfterPut(labels, "v3", [PENDING], LIMITS);
    assert.deepEqual([...labels], [["v1", [PREVIOUS]], ["v2", [CURRENT]], ["v3", [PENDING]]]);
    labels = labelsAfterStageUpdate(labels, { label: CURRENT, moveTo: "v3", removeFrom: "v2" }, LIMITS);
    assert.deepEqual([...labels], [["v1", []], ["v2", [PREVIOUS]], ["v3", [CURRENT]]], "finishing a rotation drops PENDING");
  });

  test("the first value is CURRENT even when put with other labels", () => {
    const labels = labelsAfterPut(new Map(), "v1", ["blue"], LIMITS);
    assert.deepEqual([...labels], [["v1", ["blue", CURRENT]]]);
  });

  test("built-in labels can only be moved; a move must name where the label is", () => {
    let labels: LabelMap = labelsAfterPut(new Map(), "v1", [], LIMITS);
    labels = labelsAfterPut(labels, "v2", [], LIMITS);
    for (const label of [CURRENT, PREVIOUS]) {
      const holder = versionWith(labels, label)!;
      assert.throws(() => labelsAfterStageUpdate(labels, { label, moveTo: undefined, removeFrom: holder }, LIMITS), /can only be moved/);
    }
    assert.throws(() => labelsAfterStageUpdate(labels, { label: CURRENT, moveTo: "v1", removeFrom: undefined }, LIMITS), /remove_from_version_id/);
    assert.throws(() => labelsAfterStageUpdate(labels, { label: CURRENT, moveTo: "v9", removeFrom: "v2" }, LIMITS), /not found/);
    const custom = labelsAfterStageUpdate(labels, { label: "blue", moveTo: "v1", removeFrom: undefined }, LIMITS);
    assert.deepEqual(custom.get("v1"), [PREVIOUS, "blue"]);
    assert.deepEqual(labelsAfterStageUpdate(custom, { label: "blue", moveTo: undefined, removeFrom: "v1" }, LIMITS).get("v1"), [PREVIOUS]);
  });

  test("the labels per secret limit", () => {
    let labels: LabelMap = labelsAfterPut(new Map(), "v1", [], { maxLabelsPerSecret: 3 });
    labels = labelsAfterPut(labels, "v2", ["a", "b"], { maxLabelsPerSecret: 3 });
    assert.throws(() => labelsAfterPut(labels, "v3", ["c"], { maxLabelsPerSecret: 3 }), (e: unknown) => e instanceof KeyholdError && e.reason === "LIMIT_EXCEEDED");
  });

  test("pruning removes the oldest unlabelled versions beyond the limit", () => {
    const labels = new Map([["v1", []], ["v2", ["a"]], ["v3", []], ["v4", [PREVIOUS]], ["v5", [CURRENT]]]);
    assert.deepEqual(versionsToPrune(labels, ["v1", "v2", "v3", "v4", "v5"], 3), ["v1", "v3"]);
    assert.deepEqual(versionsToPrune(labels, ["v1", "v2", "v3", "v4", "v5"], 5), []);
  });

  test("property: any sequence of operations keeps every label on at most one version and CURRENT on exactly one", () => {
    const labelPool = [CURRENT, PREVIOUS, PENDING, "AWSCURRENT", "ACSPending", "blue", "green", "canary"];
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      let labels: LabelMap = new Map();
      let nextVersion = 0;
      for (let step = 0; step < 60; step++) {
        const versions = [...labels.keys()];
        const stages = Array.from({ length: Math.floor(random() * 3) }, () => canonicalLabel(pick(labelPool), "version_stages"));
        const op = Math.floor(random() * 4);
        const context = `seed ${seed} step ${step} op ${op}`;
        try {
          if (op === 0 || versions.length === 0) {
            labels = labelsAfterPut(labels, `v${nextVersion++}`, stages, LIMITS);
          } else if (op === 1) {
            labels = labelsAfterRelabel(labels, pick(versions), stages, LIMITS);
          } else {
            const label = canonicalLabel(pick(labelPool), "version_stage");
            const holder = versionWith(labels, label);
            const moveTo = random() < 0.8 ? pick(versions) : undefined;
            const removeFrom = random() < 0.85 ? holder : pick(versions);
            labels = labelsAfterStageUpdate(labels, { label, moveTo, removeFrom }, LIMITS);
          }
        } catch (error) {
          // Refused operations change nothing; they must be refusals, not crashes.
          assert.ok(error instanceof KeyholdError && error.reason !== "INTERNAL", `${context}: ${String(error)}`);
        }
        checkInvariants(labels, context);
      }
    }
  });
});
