/** The shard function's Lambda entry (coordinator and workers): its handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createShardHandler } from "./core";

export const { handler, core: shardCore } = createShardHandler(runtime());
