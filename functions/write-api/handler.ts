/** The write function's Lambda entry: its API handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createWriteApiHandler } from "./core";

export const handler = createWriteApiHandler(runtime());
