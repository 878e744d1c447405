/**
 * Lifecycle stages: where each customer stands in their relationship with the business, from the days of
 * their purchases (orders that are not returns, dated on or before asOf).
 *
 * Windows, in days, configurable per dataset (defaults in LIFECYCLE_DEFAULTS):
 * - newDays (30): how recent a first purchase must be for a customer to count as new;
 * - activeDays (90): how recent a last purchase must be for a customer to count as active;
 * - lapsedDays (180): how long without a purchase makes a customer lapsed, and how long a gap before a
 *   recent purchase makes them reactivated.
 * They must be whole numbers of days with 1 <= newDays <= activeDays < lapsedDays (ComputeError
 * BAD_LIFECYCLE_WINDOW, naming the field, otherwise).
 *
 * Rules. With first = days from the first purchase to asOf, recency = days from the last purchase to asOf, and
 * gap = days between the last purchase day and the latest earlier distinct purchase day (none for a customer
 * who bought on one day only), the first rule that holds decides:
 *   1. new          first <= newDays
 *   2. reactivated  recency <= activeDays and gap > lapsedDays
 *   3. active       recency <= activeDays
 *   4. cooling      activeDays < recency <= lapsedDays
 *   5. lapsed       recency > lapsedDays
 * So every scored customer is in exactly one stage. "Within N days" counts asOf − day, so a purchase on asOf
 * itself is 0 days before it and one N days earlier is still within the window. Rules 1 and 2 cannot both hold
 * when the windows are valid (a gap longer than lapsedDays needs a first purchase more than lapsedDays ago),
 * but the order settles it regardless. A customer back after a long absence stays reactivated for as long as
 * the purchase that brought them back is within activeDays; their next purchase makes them active again.
 *
 * Stage 4 is "Cooling" (`lifecycle:cooling`) so that it cannot be read as the RFM segment "At Risk"
 * (`rfm:at-risk`), which is about scores, not windows. It was called "At Risk" (`lifecycle:at-risk`) before:
 * a rule condition on the lifecycle field naming "at-risk" is read as "cooling" (rules/catalog.ts), and
 * stored results name the new id from the next run on.
 */
import { ComputeError } from "./errors";
import type { SegmentDefinition } from "./rfm";
import type { LifecycleSettings } from "./types";

export interface LifecycleWindows {
  newDays: number;
  activeDays: number;
  lapsedDays: number;
}

export const LIFECYCLE_DEFAULTS: Readonly<LifecycleWindows> = Object.freeze({
  newDays: 30,
  activeDays: 90,
  lapsedDays: 180,
});

/** Longest window accepted, 100 years. */
export const MAX_LIFECYCLE_DAYS = 36_500;

/** The stages with their descriptions for the given windows; a lifecycle code is an index into this list. */
export function lifecycleDefinitions(windows: LifecycleWindows): SegmentDefinition[] {
  const { newDays, activeDays, lapsedDays } = windows;
  return [
    {
      id: "lifecycle:new",
      name: "New",
      description: `First purchase in the last ${newDays} days.`,
    },
    {
      id: "lifecycle:active",
      name: "Active",
      description: `Bought in the last ${activeDays} days.`,
    },
    {
      id: "lifecycle:cooling",
      name: "Cooling",
      description: `Last purchase ${activeDays + 1} to ${lapsedDays} days ago.`,
    },
    {
      id: "lifecycle:lapsed",
      name: "Lapsed",
      description: `No purchase in the last ${lapsedDays} days.`,
    },
    {
      id: "lifecycle:reactivated",
      name: "Reactivated",
      description: `Bought in the last ${activeDays} days after more than ${lapsedDays} days without a purchase.`,
    },
  ];
}

/** The stages with the default windows. */
export const LIFECYCLE_STAGES: readonly SegmentDefinition[] = lifecycleDefinitions(LIFECYCLE_DEFAULTS);

export const LIFECYCLE_NEW = 0;
export const LIFECYCLE_ACTIVE = 1;
export const LIFECYCLE_COOLING = 2;
export const LIFECYCLE_LAPSED = 3;
export const LIFECYCLE_REACTIVATED = 4;

/** Marks "no earlier distinct purchase day" in a previous-purchase-day column. */
export const NO_DAY = -2147483648;

/** The windows with defaults filled in; throws ComputeError BAD_LIFECYCLE_WINDOW naming the field at fault. */
export function resolveLifecycleWindows(settings: LifecycleSettings = {}): LifecycleWindows {
  const windows = { ...LIFECYCLE_DEFAULTS };
  for (const key of ["newDays", "activeDays", "lapsedDays"] as const) {
    const value: unknown = settings[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_LIFECYCLE_DAYS) {
      throw new ComputeError(
        "BAD_LIFECYCLE_WINDOW",
        `${key} must be a whole number of days from 1 to ${MAX_LIFECYCLE_DAYS}`,
        `lifecycle.${key}`,
      );
    }
    windows[key] = value;
  }
  if (windows.newDays > windows.activeDays) {
    throw new ComputeError(
      "BAD_LIFECYCLE_WINDOW",
      `newDays (${windows.newDays}) must not exceed activeDays (${windows.activeDays})`,
      "lifecycle.newDays",
    );
  }
  if (windows.activeDays >= windows.lapsedDays) {
    throw new ComputeError(
      "BAD_LIFECYCLE_WINDOW",
      `lapsedDays (${windows.lapsedDays}) must exceed activeDays (${windows.activeDays})`,
      "lifecycle.lapsedDays",
    );
  }
  return windows;
}

/** The stage code of one customer (see the module header); previousDay is NO_DAY when there is none. */
export function lifecycleStage(
  windows: LifecycleWindows,
  asOfDay: number,
  firstDay: number,
  lastDay: number,
  previousDay: number,
): number {
  if (asOfDay - firstDay <= windows.newDays) return LIFECYCLE_NEW;
  const recency = asOfDay - lastDay;
  if (recency <= windows.activeDays) {
    return previousDay !== NO_DAY && lastDay - previousDay > windows.lapsedDays
      ? LIFECYCLE_REACTIVATED
      : LIFECYCLE_ACTIVE;
  }
  return recency <= windows.lapsedDays ? LIFECYCLE_COOLING : LIFECYCLE_LAPSED;
}

/** Stage codes of every customer, from their first, last and previous distinct purchase days. */
export function lifecycleStages(
  days: {
    readonly firstPurchaseDay: Int32Array;
    readonly lastPurchaseDay: Int32Array;
    readonly previousPurchaseDay: Int32Array;
  },
  asOfDay: number,
  windows: LifecycleWindows,
  out = new Uint8Array(days.firstPurchaseDay.length),
): Uint8Array {
  const { firstPurchaseDay, lastPurchaseDay, previousPurchaseDay } = days;
  for (let i = 0; i < out.length; i++) {
    out[i] = lifecycleStage(
      windows,
      asOfDay,
      firstPurchaseDay[i] as number,
      lastPurchaseDay[i] as number,
      previousPurchaseDay[i] as number,
    );
  }
  return out;
}
