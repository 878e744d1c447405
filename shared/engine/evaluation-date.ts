/**
 * The evaluation date (asOf) of a computation, the one rule the service and the CLI share:
 *
 * - it is the dataset's fixed `asOf` setting (the CLI's `--as-of`) when there is one, and otherwise today's
 *   date in UTC, so a scheduled run of a live dataset measures recency to the day it runs;
 * - a historical dataset (an export that ended long ago, a public sample such as CDNOW) should fix asOf, as
 *   the local demo does, to the day after its last order.
 *
 * Stale data. When the latest purchase (an order that is not a return, on or before asOf) is more than the
 * lifecycle's lapsedDays (default 180) before asOf, every scored customer is lapsed, R ranks nothing but the
 * age of old orders, and the value models extrapolate across the gap. The computation then carries the issue
 * STALE_DATA (stage "data") saying so in words; it still computes everything.
 */
import { isoDay } from "./days";
import type { LifecycleWindows } from "./lifecycle";
import type { ComputeIssue } from "./types";

/** The evaluation date: the fixed asOf when given, otherwise `now`'s calendar day in UTC (yyyy-mm-dd). */
export function evaluationDate(fixedAsOf: string | undefined, now: Date): string {
  return fixedAsOf ?? now.toISOString().slice(0, 10);
}

/** 3081 → "3,081". */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * STALE_DATA when the latest of the customers' last purchase days is more than windows.lapsedDays before
 * asOfDay; undefined otherwise, and when nobody has a purchase.
 */
export function staleDataIssue(
  lastPurchaseDay: ArrayLike<number>,
  asOfDay: number,
  windows: LifecycleWindows,
): ComputeIssue | undefined {
  if (lastPurchaseDay.length === 0) return undefined;
  let latest = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < lastPurchaseDay.length; i++) {
    const day = lastPurchaseDay[i] as number;
    if (day > latest) latest = day;
  }
  const gap = asOfDay - latest;
  if (gap <= windows.lapsedDays) return undefined;
  return {
    code: "STALE_DATA",
    stage: "data",
    message:
      `The latest order (${isoDay(latest)}) is ${grouped(gap)} days before the evaluation date ` +
      `(${isoDay(asOfDay)}): every customer looks lapsed (no purchase in the last ${windows.lapsedDays} days) ` +
      `and recency ranks only how old the data is. If the data ends there, set the dataset's asOf to ` +
      `${isoDay(latest + 1)} to evaluate as of the data's end.`,
  };
}
