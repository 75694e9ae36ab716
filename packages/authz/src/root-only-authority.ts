// A PolicyAuthority with AWS account-root semantics only: the bearer credential
// "root:<account id>" is that account's root principal, which may do anything to its own
// account's resources and nothing to another's. For tests of services that must not depend on
// policy-service; never used to serve real traffic.
import { KeyholdError, type Principal } from "@keyhold/server-kit";
import type { AuthorizationAnswer, AuthorizationQuery, PolicyAuthority } from "./authority.ts";
import { accountOfKrn } from "./call-access.ts";

const NO_DEPENDENCIES = { encryptionContext: false, sourceIp: false, time: false } as const;

export function rootCredential(accountId: string): string {
  return `root:${accountId}`;
}

export function rootOnlyAuthority(): PolicyAuthority {
  return {
    changesLive: true,
    onChange: () => () => {},
    async authenticate(credential: string): Promise<Principal> {
      const match = /^root:([0-9]{12})$/.exec(credential);
      if (match === null) throw new KeyholdError("UNAUTHENTICATED", "invalid credential");
      const accountId = match[1]!;
      return { accountId, krn: `krn:keyhold:iam::${accountId}:root`, kind: "root", name: "root" };
    },
    async authenticateCertificate(): Promise<Principal> {
      throw new KeyholdError("UNAUTHENTICATED", "invalid credential");
    },
    async authorize(query: AuthorizationQuery): Promise<AuthorizationAnswer> {
      const allowed = query.principal.kind === "root" && accountOfKrn(query.resource) === query.principal.accountId;
      return { allowed, reason: allowed ? "allowed" : "implicit-deny", decidedBy: undefined, dependsOn: NO_DEPENDENCIES };
    },
  };
}
