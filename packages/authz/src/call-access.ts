// Authorization at the point where a handler knows the resource: before it looks anything up
// (permission before existence). Denials name the action and resource and nothing more; a
// resource of another account that the caller may not use answers like a missing one.
import { KeyholdError, type CallContext, type CallInterceptor } from "@keyhold/server-kit";
import type { AuthorizationAnswer, AuthorizationQuery, PolicyAuthority } from "./authority.ts";
import { sourceIpOf } from "./source-ip.ts";

const AUTHORIZED = Symbol("keyhold.authorized");

export interface AccessOptions {
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /** The error for a resource of another account that the caller may not use. */
  readonly notFound?: () => KeyholdError;
}

/** The account segment of a krn (krn:keyhold:<service>:<region>:<account>:...). */
export function accountOfKrn(krn: string): string | undefined {
  const parts = krn.split(":");
  return parts.length >= 6 ? parts[4] : undefined;
}

export function accessDenied(action: string, resource: string): KeyholdError {
  return new KeyholdError("ACCESS_DENIED", `access denied: ${action} on ${resource}`);
}

export class CallAccess {
  private readonly authority: PolicyAuthority;

  constructor(authority: PolicyAuthority) {
    this.authority = authority;
  }

  /** The decision for this call, without acting on it. */
  decide(call: CallContext, action: string, resource: string, options: AccessOptions = {}): Promise<AuthorizationAnswer> {
    const principal = call.principal;
    if (principal === undefined) throw new KeyholdError("INTERNAL", "authorization before authentication");
    const sourceIp = sourceIpOf(call.peerAddress);
    const query: AuthorizationQuery = {
      principal,
      action,
      resource,
      secureTransport: call.secureTransport,
      ...(options.encryptionContext === undefined ? {} : { encryptionContext: options.encryptionContext }),
      ...(sourceIp === undefined ? {} : { sourceIp }),
      ...(call.callingService === undefined ? {} : { viaService: call.callingService }),
    };
    return this.authority.authorize(query);
  }

  /**
   * Records that a peer service decides this call's authorization itself (e.g. retiring a
   * grant by its token, where the token is the permission); the end caller is forwarded to it.
   */
  delegate(call: CallContext): void {
    call.values.set(AUTHORIZED, true);
  }

  /** Throws unless the caller may perform `action` on `resource`. */
  async require(call: CallContext, action: string, resource: string, options: AccessOptions = {}): Promise<void> {
    const answer = await this.decide(call, action, resource, options);
    if (!answer.allowed) {
      const crossAccount = accountOfKrn(resource) !== call.principal?.accountId;
      if (crossAccount && options.notFound !== undefined) throw options.notFound();
      throw accessDenied(action, resource);
    }
    call.values.set(AUTHORIZED, true);
  }
}

/**
 * A safety net after every handler: a call whose handler never asked CallAccess fails with
 * INTERNAL instead of answering, so a forgotten authorization cannot ship.
 */
export function authorizationRequiredInterceptor(exempt: ReadonlySet<string> = new Set()): CallInterceptor {
  return (next) => async (request, call) => {
    const result = await next(request, call);
    if (call.values.get(AUTHORIZED) !== true && !exempt.has(`${call.service.typeName}/${call.method.name}`)) {
      throw new KeyholdError("INTERNAL", "handler did not authorize the call");
    }
    return result;
  };
}
