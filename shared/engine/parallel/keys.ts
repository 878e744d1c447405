/**
 * Sorted key lists, and the entries of later ranges that an earlier range already holds.
 *
 * Each worker of the parallel reader sorts its range's keys (the order_id hashes' high lanes, and the
 * customer ids' hashes) while the other ranges are still being read; the merge then finds the entries two
 * ranges share by walking the sorted lists side by side (firstOwners), in one sequential pass, instead of
 * probing one range's hash table for every entry of the next. Keys are 32 bits, so equal keys only make
 * entries candidates: the caller's `same` decides (the order hash's low lane, the customer id's bytes).
 */

import { type AggregateState, ORDER_BLOCK_SIZE, type OrderBlock } from "../state";

/** Keys in ascending order (as unsigned 32-bit integers) and, for each, the entry it belongs to. */
export interface SortedKeys {
  readonly keys: Uint32Array;
  readonly entries: Uint32Array;
}

const RADIX_PASSES: readonly (readonly [number, number])[] = [
  [0, 11],
  [11, 11],
  [22, 10],
];

/**
 * Sorts `keys` (unsigned; the array is reused as scratch) with their entry numbers 0..n-1, stably: equal keys
 * keep the order of their entries. An LSD radix sort in three passes of 11, 11 and 10 bits.
 */
export function sortKeys(keys: Uint32Array): SortedKeys {
  const n = keys.length;
  let fromKeys: Uint32Array = keys;
  let fromEntries: Uint32Array | null = null;
  let toKeys: Uint32Array = new Uint32Array(n);
  let toEntries: Uint32Array = new Uint32Array(n);
  const counts = new Uint32Array(1 << 11);
  for (const [shift, bits] of RADIX_PASSES) {
    const mask = (1 << bits) - 1;
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const d = ((fromKeys[i] as number) >>> shift) & mask;
      counts[d] = (counts[d] as number) + 1;
    }
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = counts[d] as number;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const key = fromKeys[i] as number;
      const d = (key >>> shift) & mask;
      const at = counts[d] as number;
      counts[d] = at + 1;
      toKeys[at] = key;
      toEntries[at] = fromEntries === null ? i : (fromEntries[i] as number);
    }
    const spareKeys = fromKeys;
    const spareEntries = fromEntries ?? new Uint32Array(n);
    fromKeys = toKeys;
    fromEntries = toEntries;
    toKeys = spareKeys;
    toEntries = spareEntries;
  }
  return { keys: fromKeys, entries: fromEntries as Uint32Array };
}

/** The state's orders sorted by their order_id hash's high lane. */
export function orderKeys(state: AggregateState): SortedKeys {
  const n = state.orderCount;
  const keys = new Uint32Array(n);
  for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
    const hi = (state.orderBlocks[b] as OrderBlock).hi;
    const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
    keys.set(new Uint32Array(hi.buffer, hi.byteOffset, length), b * ORDER_BLOCK_SIZE);
  }
  return sortKeys(keys);
}

/** The state's customers sorted by their id's hash. */
export function customerKeys(state: AggregateState): SortedKeys {
  const hashes = state.customers.entryHashes();
  return sortKeys(new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length));
}

/**
 * Calls `shared(list, entry, ownerList, ownerEntry)` for every entry of a later list that equals an entry of
 * an earlier one, naming its first holder: the entry of the earliest list that `same` finds equal (ownerList
 * < list). Keys met in one list only cost a step of a sequential walk; `same(listA, entryA, listB, entryB)`
 * (listA < listB) is asked only of entries with equal keys. No list may hold two entries `same` finds equal.
 */
export function forEachShared(
  lists: readonly SortedKeys[],
  same: (listA: number, entryA: number, listB: number, entryB: number) => boolean,
  shared: (list: number, entry: number, ownerList: number, ownerEntry: number) => void,
): void {
  if (lists.length === 2) {
    twoLists(lists[0] as SortedKeys, lists[1] as SortedKeys, same, shared);
    return;
  }
  const k = lists.length;
  const at = new Int32Array(k);
  const ends = Int32Array.from(lists, (list) => list.keys.length);
  // Entries of one key across lists: list and entry, in list order.
  let groupList: Uint32Array = new Uint32Array(16);
  let groupEntry: Uint32Array = new Uint32Array(16);
  for (;;) {
    // The smallest key at the lists' heads, and how many lists hold it there.
    let min = 0x1_0000_0000;
    let holders = 0;
    for (let r = 0; r < k; r++) {
      if ((at[r] as number) >= (ends[r] as number)) continue;
      const key = (lists[r] as SortedKeys).keys[at[r] as number] as number;
      if (key < min) {
        min = key;
        holders = 1;
      } else if (key === min) holders++;
    }
    if (holders === 0) break;
    let size = 0;
    for (let r = 0; r < k; r++) {
      const list = lists[r] as SortedKeys;
      let i = at[r] as number;
      const end = ends[r] as number;
      while (i < end && list.keys[i] === min) {
        if (holders > 1) {
          if (size === groupList.length) {
            groupList = grownTo(groupList, size * 2);
            groupEntry = grownTo(groupEntry, size * 2);
          }
          groupList[size] = r;
          groupEntry[size] = list.entries[i] as number;
          size++;
        }
        i++;
      }
      at[r] = i;
    }
    for (let g = 0; g < size; g++) {
      const r = groupList[g] as number;
      const e = groupEntry[g] as number;
      // Entries come in list order, so the first equal entry of an earlier list is the first holder.
      for (let h = 0; h < g; h++) {
        const q = groupList[h] as number;
        if (q >= r) break;
        const f = groupEntry[h] as number;
        if (same(q, f, r, e)) {
          shared(r, e, q, f);
          break;
        }
      }
    }
  }
}

function grownTo(array: Uint32Array, size: number): Uint32Array {
  const next = new Uint32Array(size);
  next.set(array);
  return next;
}

/** forEachShared for two lists: a merge walk. */
function twoLists(
  a: SortedKeys,
  b: SortedKeys,
  same: (listA: number, entryA: number, listB: number, entryB: number) => boolean,
  shared: (list: number, entry: number, ownerList: number, ownerEntry: number) => void,
): void {
  const ak = a.keys;
  const bk = b.keys;
  const na = ak.length;
  const nb = bk.length;
  let i = 0;
  let j = 0;
  while (i < na && j < nb) {
    const x = ak[i] as number;
    const y = bk[j] as number;
    if (x < y) i++;
    else if (y < x) j++;
    else {
      let iEnd = i + 1;
      while (iEnd < na && ak[iEnd] === x) iEnd++;
      let jEnd = j + 1;
      while (jEnd < nb && bk[jEnd] === x) jEnd++;
      for (let jj = j; jj < jEnd; jj++) {
        const e = b.entries[jj] as number;
        for (let ii = i; ii < iEnd; ii++) {
          const f = a.entries[ii] as number;
          if (same(0, f, 1, e)) {
            shared(1, e, 0, f);
            break;
          }
        }
      }
      i = iEnd;
      j = jEnd;
    }
  }
}
