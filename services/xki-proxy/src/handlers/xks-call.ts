// What an XKS handler gets: the route, the parsed JSON body, the deadline of its HSM calls, and
// a place to put what the request log line should say (never plaintext or AAD).
import { KeyholdError, type LogFields } from "@keyhold/server-kit";
import { XksError, type RequestMetadata, type XksRoute } from "@keyhold/xks";
import type { AppContext } from "../context.ts";

export interface XksCall {
  readonly route: XksRoute;
  readonly body: unknown;
  /** performance.now() time by which every HSM call of this request must have answered. */
  readonly deadline: number;
  /** Fields for the request's log line. */
  readonly log: Record<string, LogFields[string]>;
}

export type XksHandler = (ctx: AppContext, call: XksCall) => Promise<object>;

/** The external key id of a key operation, refusing the proxy's own keys as unknown. */
export function externalKeyOf(ctx: AppContext, call: XksCall): string {
  const id = call.route.externalKeyId;
  if (id === undefined) throw new XksError("InvalidUriPathException", "no external key id in the path");
  if (ctx.internalKeyLabels.has(id)) throw new KeyholdError("KEY_NOT_FOUND", `no AES key labelled ${id} in the HSM`);
  return id;
}

/** Records the request metadata for the log line (the spec asks that it be logged; it holds no secret). */
export function noteMetadata(call: XksCall, metadata: RequestMetadata): void {
  call.log["kmsRequestId"] = metadata.kmsRequestId;
  call.log["kmsOperation"] = metadata.kmsOperation;
  call.log["awsPrincipalArn"] = metadata.awsPrincipalArn;
  call.log["kmsKeyArn"] = metadata.kmsKeyArn;
  call.log["kmsViaService"] = metadata.kmsViaService;
  call.log["awsSourceVpc"] = metadata.awsSourceVpc;
  call.log["awsSourceVpce"] = metadata.awsSourceVpce;
}

/** Secondary authorization of a key operation; the deciding rule goes to the log line. */
export function authorize(ctx: AppContext, call: XksCall, metadata: RequestMetadata): void {
  const policy = ctx.policy;
  if (policy === undefined) return;
  const operation = call.route.operation;
  if (operation === "health") return;
  const decision = policy.decide({ prefix: call.route.prefix, xksOperation: operation, externalKeyId: call.route.externalKeyId ?? "", metadata });
  call.log["policyRule"] = decision.rule;
  call.log["policyDecision"] = decision.allowed ? "allow" : "deny";
  if (!decision.allowed) {
    throw new XksError("AccessDeniedException", `the proxy's authorization policy denies ${metadata.kmsOperation} on this key for this principal (rule: ${decision.rule})`);
  }
}
