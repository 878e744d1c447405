/** The read function's Lambda entry: its API handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createReadApiHandler } from "./core";

export const handler = createReadApiHandler(runtime());
