/**
 * The real data sets of the handbook's shared folder, which lies beside the checkout (`../shared/data`); a
 * checkout elsewhere on a machine that has the folder at `/work/shared` finds it there.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const CANDIDATES = [resolve(import.meta.dirname, "../../../shared/data"), "/work/shared/data"];

/** The shared data folder's path of `relative`, e.g. "cdnow/cdnow-master-transactions.csv". */
export function sharedData(relative: string): string {
  for (const dir of CANDIDATES) {
    const path = resolve(dir, relative);
    if (existsSync(path)) return path;
  }
  throw new Error(`${relative} is in neither ${CANDIDATES.join(" nor ")}`);
}
