// Composes the handlers into the three services policy-service serves.
import { AuthorizationService, IamService, StsService } from "@keyhold/proto";
import { bindService, type ServiceBinding } from "@keyhold/server-kit";
import type { AppContext } from "./context.ts";
import { addCertificateIdentity } from "./handlers/add-certificate-identity.ts";
import { assumeRole } from "./handlers/assume-role.ts";
import { attachPolicy } from "./handlers/attach-policy.ts";
import { authenticate } from "./handlers/authenticate.ts";
import { authorize } from "./handlers/authorize.ts";
import { createAccount } from "./handlers/create-account.ts";
import { createApiKey } from "./handlers/create-api-key.ts";
import { createKeyGrant } from "./handlers/create-grant.ts";
import { createRole } from "./handlers/create-role.ts";
import { createUser } from "./handlers/create-user.ts";
import { deleteApiKey } from "./handlers/delete-api-key.ts";
import { deletePolicy } from "./handlers/delete-policy.ts";
import { deletePrincipal } from "./handlers/delete-principal.ts";
import { detachPolicy } from "./handlers/detach-policy.ts";
import { getCallerIdentity } from "./handlers/get-caller-identity.ts";
import { getPolicy } from "./handlers/get-policy.ts";
import { getPrincipal } from "./handlers/get-principal.ts";
import { getResourcePolicy } from "./handlers/get-resource-policy.ts";
import { listAccounts } from "./handlers/list-accounts.ts";
import { listApiKeys } from "./handlers/list-api-keys.ts";
import { listAttachedPolicies } from "./handlers/list-attached-policies.ts";
import { listCertificateIdentities } from "./handlers/list-certificate-identities.ts";
import { listKeyGrants } from "./handlers/list-grants.ts";
import { listPolicies } from "./handlers/list-policies.ts";
import { listPrincipals } from "./handlers/list-principals.ts";
import { putPolicy } from "./handlers/put-policy.ts";
import { putResourcePolicy } from "./handlers/put-resource-policy.ts";
import { removeCertificateIdentity } from "./handlers/remove-certificate-identity.ts";
import { retireKeyGrant } from "./handlers/retire-grant.ts";
import { revokeKeyGrant } from "./handlers/revoke-grant.ts";
import { simulatePrincipalPolicy } from "./handlers/simulate-principal-policy.ts";
import { updateApiKeyStatus } from "./handlers/update-api-key-status.ts";
import { updateRoleTrustPolicy } from "./handlers/update-role-trust-policy.ts";
import { watchChanges } from "./handlers/watch-changes.ts";

/**
 * Methods that decide access without CallAccess.require (for authorizationRequiredInterceptor):
 * GetCallerIdentity needs no permission; Authenticate, Authorize and WatchChanges admit Keyhold
 * services only (their own check); RetireGrant admits the grant token holder, the grantee and
 * the retiring principal by its own rule.
 */
export const AUTHORIZATION_EXEMPT_METHODS: ReadonlySet<string> = new Set([
  `${StsService.typeName}/GetCallerIdentity`,
  `${AuthorizationService.typeName}/Authenticate`,
  `${AuthorizationService.typeName}/Authorize`,
  `${AuthorizationService.typeName}/WatchChanges`,
  `${AuthorizationService.typeName}/RetireKeyGrant`,
]);

export function policyServiceBindings(ctx: AppContext): ServiceBinding[] {
  return [
    bindService(IamService, {
      createAccount: createAccount(ctx),
      listAccounts: listAccounts(ctx),
      createUser: createUser(ctx),
      createRole: createRole(ctx),
      updateRoleTrustPolicy: updateRoleTrustPolicy(ctx),
      getPrincipal: getPrincipal(ctx),
      listPrincipals: listPrincipals(ctx),
      deletePrincipal: deletePrincipal(ctx),
      createApiKey: createApiKey(ctx),
      listApiKeys: listApiKeys(ctx),
      updateApiKeyStatus: updateApiKeyStatus(ctx),
      deleteApiKey: deleteApiKey(ctx),
      putPolicy: putPolicy(ctx),
      getPolicy: getPolicy(ctx),
      listPolicies: listPolicies(ctx),
      deletePolicy: deletePolicy(ctx),
      attachPolicy: attachPolicy(ctx),
      detachPolicy: detachPolicy(ctx),
      listAttachedPolicies: listAttachedPolicies(ctx),
      simulatePrincipalPolicy: simulatePrincipalPolicy(ctx),
      addCertificateIdentity: addCertificateIdentity(ctx),
      removeCertificateIdentity: removeCertificateIdentity(ctx),
      listCertificateIdentities: listCertificateIdentities(ctx),
    }),
    bindService(StsService, {
      assumeRole: assumeRole(ctx),
      getCallerIdentity: getCallerIdentity(ctx),
    }),
    bindService(AuthorizationService, {
      authenticate: authenticate(ctx),
      authorize: authorize(ctx),
      watchChanges: watchChanges(ctx),
      putResourcePolicy: putResourcePolicy(ctx),
      getResourcePolicy: getResourcePolicy(ctx),
      createKeyGrant: createKeyGrant(ctx),
      listKeyGrants: listKeyGrants(ctx),
      retireKeyGrant: retireKeyGrant(ctx),
      revokeKeyGrant: revokeKeyGrant(ctx),
    }),
  ];
}
