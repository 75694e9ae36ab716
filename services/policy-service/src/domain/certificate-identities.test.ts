import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import { requireSan } from "./certificate-identities.ts";

test("accepted SANs: SPIFFE ids and other URIs as written, DNS names in lower case", () => {
  const accepted: [string, { san: string; type: "uri" | "dns" }][] = [
    ["spiffe://example.org/ns/prod/sa/billing", { san: "spiffe://example.org/ns/prod/sa/billing", type: "uri" }],
    ["spiffe://prod.example-1.org/Workload_A.v2", { san: "spiffe://prod.example-1.org/Workload_A.v2", type: "uri" }],
    ["https://workload.example.org/id/7", { san: "https://workload.example.org/id/7", type: "uri" }],
    ["urn:uuid:6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b", { san: "urn:uuid:6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b", type: "uri" }],
    ["Worker-1.Example.ORG", { san: "worker-1.example.org", type: "dns" }],
    ["localhost", { san: "localhost", type: "dns" }],
    [`${"a".repeat(63)}.example`, { san: `${"a".repeat(63)}.example`, type: "dns" }],
  ];
  for (const [value, expected] of accepted) assert.deepEqual(requireSan(value, "san"), expected, value);
});

test("refused SANs are INVALID_ARGUMENT naming the field", () => {
  const refused = [
    "",
    "URI:spiffe://example.org/a",
    "DNS:worker.example.org",
    "uri:spiffe://example.org/a",
    "spiffe://example.org",
    "spiffe://example.org/",
    "spiffe://Example.org/a",
    "SPIFFE://example.org/a",
    "spiffe://example.org/a//b",
    "spiffe://example.org/a/",
    "spiffe://example.org/../a",
    "spiffe://example.org/./a",
    "spiffe://example.org/a?b=c",
    "spiffe://example.org/a#f",
    "spiffe://user@example.org/a",
    "spiffe://example.org:8443/a",
    "*.example.org",
    "worker .example.org",
    "worker\n.example.org",
    "-worker.example.org",
    "worker-.example.org",
    "worker..example.org",
    "worker.example.org.",
    "under_score.example.org",
    `${"a".repeat(64)}.example`,
    `${"a.".repeat(127)}a`,
    "https://",
    `spiffe://example.org/${"a".repeat(2048)}`,
  ];
  for (const value of refused) {
    assert.throws(
      () => requireSan(value, "san"),
      (error: unknown) => error instanceof KeyholdError && error.reason === "INVALID_ARGUMENT" && error.field === "san",
      JSON.stringify(value),
    );
  }
});
