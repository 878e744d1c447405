/** The compute function's Lambda entry: its handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { computeDeps, createComputeHandler } from "./core";

export const { handler, core: computeCore } = createComputeHandler(computeDeps(runtime()));
