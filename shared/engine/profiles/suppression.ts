/**
 * k-suppression of a profile table: a set of cells (counts of customers) shown together with a total the
 * reader knows (the segment's size, or its spend, which is the sum of the cells).
 *
 * Rule, applied to every table of a profile:
 * 1. Primary: a cell counted on 1..k−1 customers is hidden (a count of 0 singles nobody out and is shown).
 *    A caller may also force a cell hidden when its count of customers is not known to reach k.
 * 2. Complementary: when a table hides any cell and none of its hidden cells covers k customers or more,
 *    the shown cell with the smallest count of at least k is hidden as well (of equal counts, the later one).
 *    So a table hides no cell or at least two, one of which covers ≥ k customers: subtracting the shown
 *    cells from the total gives the sum of two or more hidden cells, never one of them, and that sum is
 *    itself spread over at least k customers.
 * 3. When no shown cell has k customers or more, the whole table is withheld: every cell is hidden, those
 *    of 0 customers too, so the hidden cells are not known to hold anyone.
 */

/** Which cells of a table to hide (true = hidden) under the rule above. */
export function suppressTable(
  counts: readonly number[],
  k: number,
  forced: readonly boolean[] = [],
): boolean[] {
  const hidden = counts.map((c, i) => forced[i] === true || (c > 0 && c < k));
  let any = false;
  let covered = false;
  for (let i = 0; i < counts.length; i++) {
    if (!hidden[i]) continue;
    any = true;
    if (forced[i] !== true && (counts[i] as number) >= k) covered = true;
  }
  if (!any || covered) return hidden;
  let pick = -1;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number;
    if (hidden[i] || c < k) continue;
    if (pick < 0 || c <= (counts[pick] as number)) pick = i;
  }
  if (pick >= 0) hidden[pick] = true;
  else hidden.fill(true);
  return hidden;
}
