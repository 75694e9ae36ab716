// Quotas per account and operation class, as a call interceptor placed after authentication
// (the account is the authenticated principal's) and after the audit step, so a throttled call
// is still audited. A refusal is THROTTLED (RESOURCE_EXHAUSTED) with google.rpc.RetryInfo
// saying when a token will be there. Rate limiting only ever refuses: it grants nothing.
// The refusal counter's only attribute is the class: never an account id.
import { createNoopMeter, type Counter, type Meter } from "@opentelemetry/api";
import { KeyholdError, type CallInterceptor } from "@keyhold/server-kit";
import { quotaFor, type QuotaConfig } from "./config.ts";
import { operationClassOf } from "./operation-classes.ts";
import type { RateLimiter } from "./token-bucket.ts";

export const RATE_LIMIT_REJECTIONS = "keyhold.rate_limit.rejections";

export interface RateLimitOptions {
  readonly limiter: RateLimiter;
  readonly quotas: QuotaConfig;
  /** Where the rejection counter lives (default: a no-op meter). */
  readonly meter?: Meter;
}

export class RateLimits {
  readonly #limiter: RateLimiter;
  readonly #quotas: QuotaConfig;
  readonly #rejections: Counter;

  constructor(options: RateLimitOptions) {
    this.#limiter = options.limiter;
    this.#quotas = options.quotas;
    this.#rejections = (options.meter ?? createNoopMeter()).createCounter(RATE_LIMIT_REJECTIONS, {
      description: "Calls refused with THROTTLED, by operation class",
    });
  }

  /** The interceptor; install it after authentication. */
  interceptor(): CallInterceptor {
    return (next) => async (request, call) => {
      const principal = call.principal;
      // A Keyhold service acting for itself has no account; acting for a caller, it forwards
      // that caller, whose account is counted.
      if (principal === undefined || principal.kind === "service") return next(request, call);
      const cls = operationClassOf(call.method.name);
      const quota = quotaFor(this.#quotas, principal.accountId, cls);
      if (quota === undefined) return next(request, call);
      const decision = await this.#limiter.take(`${principal.accountId}:${cls}`, quota);
      if (!decision.allowed) {
        this.#rejections.add(1, { "keyhold.operation_class": cls });
        throw new KeyholdError("THROTTLED", `rate limit exceeded for ${cls} operations: retry later`, {
          retryAfterMs: decision.retryAfterMs,
          metadata: { operationClass: cls },
        });
      }
      return next(request, call);
    };
  }
}
