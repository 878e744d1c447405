/** The sweeper's Lambda entry: its handler (./core.ts) on the runtime's adapters. */
import { runtime } from "../../shared/runtime";
import { createSweeperHandler } from "./core";

export const { handler, core: sweeperCore } = createSweeperHandler(runtime());
