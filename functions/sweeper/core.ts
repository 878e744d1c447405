/**
 * The sweeper, on a schedule: closes runs whose attempt stopped without a word and starts their work again
 * (shared/pipeline/sweep.ts). It reads the table and puts redelivery requests on the service's bus; it never
 * computes anything itself. It also serves the destinations of a committed run whose process died before
 * serving them (shared/pipeline/unserved.ts). A dataset whose sweep failed is swept again on the next schedule.
 */
import middy from "@middy/core";
import { scheduledEventSchema } from "../../shared/events";
import { logger } from "../../shared/logger";
import { metricsMiddleware, recordAbandoned } from "../../shared/metrics";
import { type SweepReport, sweep } from "../../shared/pipeline/sweep";
import type { Runtime } from "../../shared/runtime";

/** What the sweeper works with: the table, the bus, and what serves a committed run's destinations. */
export type SweeperDeps = Pick<
  Runtime,
  "store" | "events" | "blobs" | "destinations" | "destinationFiles" | "deliveryQueue"
>;

/** The sweeper's core on these dependencies, and its Lambda handler (metrics middleware around it). */
export function createSweeperHandler(rt: SweeperDeps) {
  async function sweeperCore(event: unknown): Promise<SweepReport> {
    scheduledEventSchema.parse(event);
    const report = await sweep({
      store: rt.store,
      events: rt.events,
      // A committed run whose process died before its destinations were served is served here.
      serving: {
        store: rt.store,
        blobs: rt.blobs,
        destinations: rt.destinations,
        destinationFiles: rt.destinationFiles,
        deliveryQueue: rt.deliveryQueue,
      },
    });
    recordAbandoned(report.abandoned);
    logger.info("Sweep done", { ...report });
    // Failed so that the function's error alarm sees it; the retry sweeps again, which is harmless.
    if (report.errors > 0) throw new Error(`${report.errors} datasets could not be swept`);
    return report;
  }

  return { core: sweeperCore, handler: middy().use(metricsMiddleware()).handler(sweeperCore) };
}
