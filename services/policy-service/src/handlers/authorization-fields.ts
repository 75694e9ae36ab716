// Messages of the authorization API: the principal a Keyhold service names in Authorize, and
// the deciding statement of an answer.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AuthorizationAnswer } from "@keyhold/authz";
import { PrincipalType, type AuthenticatedPrincipal, type DecidingStatementSchema } from "@keyhold/proto";
import { invalidArgument, type Principal } from "@keyhold/server-kit";
import { parsePrincipalKrn } from "../domain/names.ts";

const SERVICE_KRN = /^krn:keyhold:iam::keyhold:service\/([a-z0-9-]{1,64})$/;
const SESSION_NAME = /^[A-Za-z0-9=,.@_-]{2,64}$/;

export function decidingStatement(by: NonNullable<AuthorizationAnswer["decidedBy"]>): MessageInitShape<typeof DecidingStatementSchema> {
  return { kind: by.kind, policyId: by.policyId, policyName: by.policyName, statementIndex: by.statementIndex, sid: by.sid ?? "" };
}

/** The principal of an AuthorizeRequest, checked for consistency (krn, account and type agree). */
export function requestPrincipal(message: AuthenticatedPrincipal | undefined, field: string): Principal {
  if (message === undefined) throw invalidArgument(field, "is required");
  if (message.type === PrincipalType.SERVICE) {
    const m = SERVICE_KRN.exec(message.krn);
    if (m === null) throw invalidArgument(`${field}.krn`, "must be krn:keyhold:iam::keyhold:service/<name> for a service principal");
    if (message.accountId !== "") throw invalidArgument(`${field}.account_id`, "must be empty for a service principal");
    return { krn: message.krn, accountId: "", kind: "service", name: m[1]! };
  }
  const parsed = parsePrincipalKrn(message.krn);
  if (parsed === undefined) throw invalidArgument(`${field}.krn`, "must be a principal krn");
  if (message.accountId !== parsed.accountId) throw invalidArgument(`${field}.account_id`, "must be the account of the principal krn");
  const expected = parsed.kind === "root" ? PrincipalType.ROOT : parsed.kind === "user" ? PrincipalType.USER : PrincipalType.ROLE;
  if (message.type !== expected) throw invalidArgument(`${field}.type`, "must match the principal krn");
  const principal: Principal = { krn: parsed.krn, accountId: parsed.accountId, kind: parsed.kind, name: parsed.name };
  if (message.sessionName === "") return principal;
  if (parsed.kind !== "role") throw invalidArgument(`${field}.session_name`, "only role sessions have a session name");
  if (!SESSION_NAME.test(message.sessionName)) throw invalidArgument(`${field}.session_name`, "is not a valid session name");
  return { ...principal, sessionName: message.sessionName };
}
