/** The refresh function's Lambda entry: its handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createRefreshHandler, refreshDeps } from "./core";

export const { handler, core: refreshCore } = createRefreshHandler(refreshDeps(runtime()));
