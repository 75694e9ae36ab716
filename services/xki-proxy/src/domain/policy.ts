// Secondary authorization (XKS Proxy API v1, "Authorization"): a JSON policy of rules over the
// request metadata KMS (or Keyhold) sends with every key operation — the calling principal, the
// KMS key's ARN or Keyhold krn, the KMS operation — and the external key id, the path prefix and
// the XKS operation. An explicit Deny wins; otherwise the first Allow that matches allows;
// otherwise the request is denied. Every decision names the rule that decided it, for the log.
// GetHealthStatus is never subject to it (the spec excludes it).
//
// {"rules": [{"id": "app-encrypts", "effect": "Allow",
//   "principals": ["arn:aws:iam::111122223333:role/app-*"],
//   "keys": ["arn:aws:kms:us-east-1:111122223333:key/*"],
//   "operations": ["Encrypt", "Decrypt", "GenerateDataKey*", "ReEncrypt*", "DescribeKey", "CreateKey"],
//   "externalKeyIds": ["*"], "prefixes": ["tenant-a"], "xksOperations": ["metadata", "encrypt", "decrypt"],
//   "viaServices": ["*"], "sourceVpcs": ["*"]}]}
// An omitted field matches anything; patterns use * (any run of characters) and ? (one).
import { readFileSync } from "node:fs";
import type { RequestMetadata } from "@keyhold/xks";

export interface AuthorizationInput {
  readonly prefix: string;
  readonly xksOperation: "metadata" | "encrypt" | "decrypt";
  readonly externalKeyId: string;
  readonly metadata: RequestMetadata;
}

export interface Decision {
  readonly allowed: boolean;
  /** The deciding rule's id, or "(no rule allows)" for the default deny. */
  readonly rule: string;
}

const FIELDS = {
  principals: (i: AuthorizationInput) => i.metadata.awsPrincipalArn ?? "",
  keys: (i: AuthorizationInput) => i.metadata.kmsKeyArn ?? "",
  operations: (i: AuthorizationInput) => i.metadata.kmsOperation,
  externalKeyIds: (i: AuthorizationInput) => i.externalKeyId,
  prefixes: (i: AuthorizationInput) => i.prefix,
  xksOperations: (i: AuthorizationInput) => i.xksOperation,
  viaServices: (i: AuthorizationInput) => i.metadata.kmsViaService ?? "",
  sourceVpcs: (i: AuthorizationInput) => i.metadata.awsSourceVpc ?? "",
  sourceVpces: (i: AuthorizationInput) => i.metadata.awsSourceVpce ?? "",
} as const;

type Field = keyof typeof FIELDS;

interface Rule {
  readonly id: string;
  readonly effect: "Allow" | "Deny";
  readonly matchers: readonly (readonly [Field, readonly RegExp[]])[];
}

export class PolicyError extends Error {
  override readonly name = "PolicyError";
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

export class AuthorizationPolicy {
  readonly #rules: readonly Rule[];

  constructor(rules: readonly Rule[]) {
    this.#rules = rules;
  }

  /** Parses a policy document; every problem names the rule and field. */
  static parse(json: unknown): AuthorizationPolicy {
    const rules = (json as { rules?: unknown } | null)?.rules;
    if (!Array.isArray(rules)) throw new PolicyError("policy: rules must be an array");
    const ids = new Set<string>();
    return new AuthorizationPolicy(
      rules.map((raw: unknown, i): Rule => {
        if (typeof raw !== "object" || raw === null) throw new PolicyError(`policy: rules[${i}] must be an object`);
        const entry = raw as Record<string, unknown>;
        const id = entry["id"];
        if (typeof id !== "string" || id === "") throw new PolicyError(`policy: rules[${i}].id must be a non-empty string`);
        if (ids.has(id)) throw new PolicyError(`policy: rules[${i}].id "${id}" is used twice`);
        ids.add(id);
        const effect = entry["effect"];
        if (effect !== "Allow" && effect !== "Deny") throw new PolicyError(`policy: rules[${i}].effect must be "Allow" or "Deny"`);
        const matchers: (readonly [Field, RegExp[]])[] = [];
        for (const name of Object.keys(entry)) {
          if (name === "id" || name === "effect") continue;
          if (!Object.hasOwn(FIELDS, name)) throw new PolicyError(`policy: rules[${i}].${name} is not a known field (${Object.keys(FIELDS).join(", ")})`);
          const patterns = entry[name];
          if (!Array.isArray(patterns) || patterns.length === 0 || !patterns.every((p) => typeof p === "string")) {
            throw new PolicyError(`policy: rules[${i}].${name} must be a non-empty array of strings`);
          }
          matchers.push([name as Field, patterns.map(globToRegExp)]);
        }
        return { id, effect, matchers };
      }),
    );
  }

  static fromFile(path: string): AuthorizationPolicy {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new PolicyError(`policy file ${path} cannot be read as JSON (${(error as NodeJS.ErrnoException).code ?? "invalid JSON"})`);
    }
    return AuthorizationPolicy.parse(json);
  }

  decide(input: AuthorizationInput): Decision {
    const matches = (rule: Rule) => rule.matchers.every(([field, patterns]) => patterns.some((p) => p.test(FIELDS[field](input))));
    const deny = this.#rules.find((r) => r.effect === "Deny" && matches(r));
    if (deny !== undefined) return { allowed: false, rule: deny.id };
    const allow = this.#rules.find((r) => r.effect === "Allow" && matches(r));
    if (allow !== undefined) return { allowed: true, rule: allow.id };
    return { allowed: false, rule: "(no rule allows)" };
  }
}
