// Composes the handlers into the service secrets-service serves.
import { SecretsService } from "@keyhold/proto";
import { bindService, type CallInterceptor, type ServiceBinding } from "@keyhold/server-kit";
import type { AppContext } from "./context.ts";
import { batchGetSecretValue } from "./handlers/batch-get-secret-value.ts";
import { createSecret } from "./handlers/create-secret.ts";
import { deleteSecret } from "./handlers/delete-secret.ts";
import { describeSecret } from "./handlers/describe-secret.ts";
import { getRandomPassword } from "./handlers/get-random-password.ts";
import { getSecretValue } from "./handlers/get-secret-value.ts";
import { listSecretVersionIds } from "./handlers/list-secret-version-ids.ts";
import { listSecrets } from "./handlers/list-secrets.ts";
import { putSecretValue } from "./handlers/put-secret-value.ts";
import { restoreSecret } from "./handlers/restore-secret.ts";
import { rotateSecret } from "./handlers/rotate-secret.ts";
import { tagResource } from "./handlers/tag-resource.ts";
import { untagResource } from "./handlers/untag-resource.ts";
import { updateSecret } from "./handlers/update-secret.ts";
import { updateSecretRotationPolicy } from "./handlers/update-secret-rotation-policy.ts";
import { updateSecretVersionStage } from "./handlers/update-secret-version-stage.ts";

export function secretsServiceBindings(ctx: AppContext, interceptors: readonly CallInterceptor[]): ServiceBinding[] {
  return [
    bindService(SecretsService, {
      createSecret: createSecret(ctx),
      putSecretValue: putSecretValue(ctx),
      getSecretValue: getSecretValue(ctx),
      batchGetSecretValue: batchGetSecretValue(ctx),
      describeSecret: describeSecret(ctx),
      listSecrets: listSecrets(ctx),
      listSecretVersionIds: listSecretVersionIds(ctx),
      updateSecretVersionStage: updateSecretVersionStage(ctx),
      updateSecret: updateSecret(ctx),
      rotateSecret: rotateSecret(ctx),
      updateSecretRotationPolicy: updateSecretRotationPolicy(ctx),
      deleteSecret: deleteSecret(ctx),
      restoreSecret: restoreSecret(ctx),
      getRandomPassword: getRandomPassword(ctx),
      tagResource: tagResource(ctx),
      untagResource: untagResource(ctx),
    }, interceptors),
  ];
}
