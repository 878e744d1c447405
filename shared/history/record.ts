/**
 * What a run records in the membership history, next to its membership writes and before its commit: one
 * record per customer whose segments changed. When it repairs an aborted run, the records that run left
 * under its uncommitted version for the customers it touched are deleted first (readers never serve them).
 */
import type { Diff } from "../pipeline/outputs";
import { historyChanges } from "./changes";
import type { HistoryChange, HistoryRun, MembershipHistory } from "./ports";

export async function recordHistory(
  history: MembershipHistory | undefined,
  tenantId: string,
  datasetId: string,
  run: HistoryRun,
  changes: readonly HistoryChange[],
  repair?: { abortedVersion: number; diff: Diff },
): Promise<number> {
  if (!history) return 0;
  if (repair) {
    const touched = repair.diff.customers.map((c) => c.customerId);
    await history.discard(tenantId, datasetId, repair.abortedVersion, touched);
  }
  return history.write(tenantId, datasetId, run, changes);
}

export { historyChanges };
