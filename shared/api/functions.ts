/**
 * The route handlers each HTTP function serves, put together once: the Lambda handlers in `functions/*` and
 * the tests that drive a whole function build them here, so a route added to a function cannot be missing
 * from either.
 */
import { datasetRoutes } from "./datasets";
import { destinationRoutes } from "./destinations";
import { docsRoutes } from "./docs";
import { exportRoutes } from "./exports";
import { historyRoutes } from "./history";
import { listRoutes } from "./lists";
import { lookalikeRoutes } from "./lookalikes";
import { memberRoutes } from "./members";
import { overlapRoutes } from "./overlap";
import { readRoutes } from "./read";
import { writeRoutes } from "./write";

type DepsOf<F extends (deps: never) => unknown> = Parameters<F>[0];

export type ReadApiDeps = DepsOf<typeof readRoutes> &
  DepsOf<typeof overlapRoutes> &
  DepsOf<typeof historyRoutes> &
  DepsOf<typeof datasetRoutes> &
  DepsOf<typeof listRoutes> &
  DepsOf<typeof lookalikeRoutes> &
  DepsOf<typeof destinationRoutes> &
  DepsOf<typeof memberRoutes> & { scopePrefix: string };

export type WriteApiDeps = DepsOf<typeof writeRoutes> &
  DepsOf<typeof datasetRoutes> &
  DepsOf<typeof listRoutes> &
  DepsOf<typeof lookalikeRoutes> &
  DepsOf<typeof exportRoutes> &
  DepsOf<typeof destinationRoutes>;

/** Every handler of the read function (routes whose `fn` is readApi). */
export function readApiRoutes(deps: ReadApiDeps) {
  return {
    ...readRoutes(deps),
    ...memberRoutes(deps),
    ...overlapRoutes(deps),
    ...historyRoutes(deps),
    ...datasetRoutes(deps),
    ...listRoutes(deps),
    ...lookalikeRoutes(deps),
    ...destinationRoutes(deps),
    ...docsRoutes({ scopePrefix: deps.scopePrefix }),
  };
}

/** Every handler of the write function (routes whose `fn` is writeApi). */
export function writeApiRoutes(deps: WriteApiDeps) {
  return {
    ...writeRoutes(deps),
    ...datasetRoutes(deps),
    ...listRoutes(deps),
    ...lookalikeRoutes(deps),
    ...exportRoutes(deps),
    ...destinationRoutes(deps),
  };
}
