/** The delivery function's Lambda entry: its handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createDeliverHandler } from "./core";

export const { handler, core: deliverCore } = createDeliverHandler(runtime());
