/**
 * The history records of a run, from its membership writes: one per customer whose memberships changed, with
 * the segments entered and left in id order. A write that changes nothing (the rewrite that repairs an
 * aborted run) is not a change, so a run that changes nobody's segments records nothing.
 */
import type { MembershipWrite } from "../pipeline/ports";
import type { HistoryChange } from "./ports";

export function historyChanges(writes: readonly MembershipWrite[]): HistoryChange[] {
  const byCustomer = new Map<string, HistoryChange>();
  for (const w of writes) {
    if (w.member === w.previous) continue;
    let change = byCustomer.get(w.customerId);
    if (!change) {
      change = { customerId: w.customerId, entered: [], left: [] };
      byCustomer.set(w.customerId, change);
    }
    (w.member ? change.entered : change.left).push(w.segmentId);
  }
  const changes = [...byCustomer.values()];
  for (const c of changes) {
    c.entered.sort();
    c.left.sort();
  }
  return changes;
}
