// EnableKey and DisableKey share one transition: same checks, another target state.
import { KeyState } from "@keyhold/proto";
import { KeyholdError, type CallContext } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { keyMetadata } from "./views.ts";

export async function changeKeyState(ctx: AppContext, keyIdField: string, call: CallContext, target: KeyState.ENABLED | KeyState.DISABLED) {
  const action = target === KeyState.ENABLED ? "kms:EnableKey" : "kms:DisableKey";
  const key = await authorizedKey(ctx, call, keyIdField, "key_id", action);
  // Checked against the key as it is inside the write (another replica may change it meanwhile).
  const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => {
    if (current.state !== KeyState.ENABLED && current.state !== KeyState.DISABLED) {
      const reason = current.state === KeyState.PENDING_DELETION ? "KEY_PENDING_DELETION" : current.state === KeyState.PENDING_IMPORT ? "KEY_PENDING_IMPORT" : "INTERNAL";
      throw new KeyholdError(reason, `key_id: the key cannot be ${target === KeyState.ENABLED ? "enabled" : "disabled"} in its current state`, {
        field: "key_id",
      });
    }
    return current.state === target ? undefined : { state: target };
  });
  if (updated === undefined) throw keyNotFound("key_id");
  return { keyMetadata: keyMetadata(updated, ctx.config.region) };
}
