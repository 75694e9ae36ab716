// GenerateRandom: bytes from the token's random generator.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidArgument } from "@keyhold/server-kit";
import { budgetOf } from "./fields.ts";

type M = (typeof HsmService)["method"]["generateRandom"];

export const MAX_RANDOM_BYTES = 1024;

export function generateRandom(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    if (request.length < 1 || request.length > MAX_RANDOM_BYTES) throw invalidArgument("length", `must be from 1 to ${MAX_RANDOM_BYTES}`);
    return { random: await ctx.hsm.generateRandom(request.length, budgetOf(ctx, call)) };
  };
}
