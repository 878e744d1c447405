/**
 * The aggregate state of a dataset: everything later computations need from the uploads, in columns.
 *
 * - Customers are interned to dense indices 0..customerCount-1 in order of first appearance; each id's bytes
 *   are kept once (ByteSet).
 * - Orders are kept one entry per order in blocks of 65,536: the order_id's 64-bit hash (see hash.ts for why
 *   the id itself is not kept), the customer's index, the order's day number, its net amount in integer
 *   cents, and channel and category codes (0 = none; 1-based into per-state dictionaries). Amounts outside
 *   the int32 range live in a side map, so an order costs 20 bytes (24 with channels and categories), plus
 *   5 to 10 bytes of hash table while an ingest runs.
 * - Customer attributes from customers files: one column per attribute name, dictionary-encoded (a code per
 *   customer, 0 = missing), values kept as the strings of the file.
 * - The dataset's currency, when the uploads name one.
 *
 * Hash tables are not stored: they are rebuilt the first time an ingest (or a lookup by id) needs them, so
 * a state loaded only to recompute scores never pays for them, and an ingest frees them when it ends. A caller
 * done adding orders can also let the order_id hashes go (sealOrders): the state then still computes
 * everything, but takes no order and can no longer be serialized. One done reading the orders too (the segment
 * CLI, once the order pass has its totals) lets the orders themselves go (releaseOrders).
 *
 * serialize()/deserialize() use a versioned little-endian binary format with a magic header, a CRC-32 of the
 * body and a trailer; deserialize validates every length, index and code and throws StateError otherwise.
 */

import { endianness } from "node:os";
import { crc32 } from "node:zlib";
import { ByteSet } from "./byteset";
import { daysFromCivil, MAX_YEAR, MIN_YEAR } from "./days";
import { StateError } from "./errors";

export const ORDER_BLOCK_BITS = 16;
export const ORDER_BLOCK_SIZE = 1 << ORDER_BLOCK_BITS;
export const ORDER_BLOCK_MASK = ORDER_BLOCK_SIZE - 1;
/** Marks an order whose cents do not fit an int32; its amount is in the state's bigCents map. */
export const BIG_CENTS = -2147483648;
/** Channel and category codes are 16-bit: at most this many distinct values each. */
export const MAX_DICTIONARY_VALUES = 65535;

const MIN_DAY = daysFromCivil(MIN_YEAR, 1, 1);
const MAX_DAY = daysFromCivil(MAX_YEAR, 12, 31);
const TABLE_MAX_LOAD = 0.8;

export class OrderBlock {
  /** Allocated when the first order of the block has a channel (category). */
  channel: Uint16Array | null = null;
  category: Uint16Array | null = null;

  constructor(
    /**
     * The order_id hash's two lanes, as signed 32-bit integers (the bits are what counts); empty once the
     * state's orders are sealed (AggregateState.sealOrders).
     */
    public hi: Int32Array = new Int32Array(ORDER_BLOCK_SIZE),
    public lo: Int32Array = new Int32Array(ORDER_BLOCK_SIZE),
    readonly customer: Uint32Array = new Uint32Array(ORDER_BLOCK_SIZE),
    readonly day: Int32Array = new Int32Array(ORDER_BLOCK_SIZE),
    /** Net cents of the order, or BIG_CENTS. */
    readonly cents: Int32Array = new Int32Array(ORDER_BLOCK_SIZE),
  ) {}

  /**
   * A new, empty block (every column zero, no channel or category) on this block's columns, for a caller
   * done with this block; undefined when its order ids are gone (a sealed state's).
   */
  emptied(): OrderBlock | undefined {
    if (this.hi.length !== ORDER_BLOCK_SIZE || this.lo.length !== ORDER_BLOCK_SIZE) return undefined;
    for (const column of [this.hi, this.lo, this.customer, this.day, this.cents]) column.fill(0);
    return new OrderBlock(this.hi, this.lo, this.customer, this.day, this.cents);
  }
}

/**
 * The columns of a state without attributes (a transactions read), as plain arrays that can be posted to
 * another thread with their buffers transferred: see AggregateState.toParts and fromParts.
 */
export interface StateParts {
  customers: { ends: Uint32Array; arena: Uint8Array };
  channels: { ends: Uint32Array; arena: Uint8Array };
  categories: { ends: Uint32Array; arena: Uint8Array };
  orders: number;
  blocks: {
    hi: Int32Array;
    lo: Int32Array;
    customer: Uint32Array;
    day: Int32Array;
    cents: Int32Array;
    channel: Uint16Array | null;
    category: Uint16Array | null;
  }[];
  /** [order index, cents] of the orders marked BIG_CENTS. */
  bigCents: [number, number][];
  currency: string | undefined;
  /** The order_id table, when the state had one. */
  orderTable: { table: Uint32Array; mask: number; shift: number } | null;
}

/** One attribute of customers files, dictionary-encoded. */
export class AttributeColumn {
  readonly values: ByteSet;
  /** Code per customer index: 0 = missing, c = values entry c - 1. Customers past the end are missing. */
  codes: Uint32Array;

  constructor(
    readonly name: string,
    values = new ByteSet(),
    codes = new Uint32Array(16),
  ) {
    this.values = values;
    this.codes = codes;
  }

  code(customer: number): number {
    return customer < this.codes.length ? (this.codes[customer] as number) : 0;
  }

  value(customer: number): string | undefined {
    const code = this.code(customer);
    return code === 0 ? undefined : this.values.get(code - 1);
  }

  setCode(customer: number, code: number): void {
    if (customer >= this.codes.length) {
      if (code === 0) return;
      let size = this.codes.length * 2;
      while (size <= customer) size *= 2;
      const codes = new Uint32Array(size);
      codes.set(this.codes);
      this.codes = codes;
    }
    this.codes[customer] = code;
  }
}

export class AggregateState {
  /** Customer ids; index = customer index. */
  readonly customers: ByteSet;
  /** Channel names; code c is entry c - 1. */
  readonly channels: ByteSet;
  readonly categories: ByteSet;
  private blocks: OrderBlock[] = [];
  /** Order index -> exact cents, for orders marked BIG_CENTS. */
  readonly bigCents = new Map<number, number>();
  private orders = 0;
  private currencyCode: string | undefined;
  private readonly attributeList: AttributeColumn[] = [];
  private readonly attributeByName = new Map<string, AttributeColumn>();

  /**
   * The order_id table, open addressing with linear probing from slot hi & mask. A slot is one word: 0 when
   * empty, else the order index + 1 in its low `shift` bits (the table has 2^shift slots and always more
   * slots than orders) and the top 32 - shift bits of the hash's low lane above them, which rule out all but
   * a few of the other orders met on a probe without looking at their hashes.
   */
  private table: Uint32Array | null = null;
  private mask = 0;
  private shift = 0;
  /** The empty slot where the order last looked up and not found would go. */
  private probeSlot = -1;
  /** Set by sealOrders: the order_id hashes are gone. */
  private sealed = false;
  /** Set by releaseOrders: the orders are gone. */
  private released = false;

  constructor(sets?: { customers: ByteSet; channels: ByteSet; categories: ByteSet }) {
    this.customers = sets?.customers ?? new ByteSet();
    this.channels = sets?.channels ?? new ByteSet();
    this.categories = sets?.categories ?? new ByteSet();
  }

  /** Customers known to the state, including those with attributes but no orders. */
  get customerCount(): number {
    return this.customers.size;
  }

  /** Orders read into the state (still their count once releaseOrders has let them go). */
  get orderCount(): number {
    return this.orders;
  }

  /** The orders' columns, 2^ORDER_BLOCK_BITS orders a block; StateError ORDERS_RELEASED after releaseOrders. */
  get orderBlocks(): OrderBlock[] {
    if (this.released) {
      throw new StateError(
        "ORDERS_RELEASED",
        "Cannot read the orders: the state let them go (releaseOrders) once its totals were computed",
      );
    }
    return this.blocks;
  }

  get currency(): string | undefined {
    return this.currencyCode;
  }

  setCurrency(code: string): void {
    this.currencyCode = code;
  }

  customerId(index: number): string {
    return this.customers.get(index);
  }

  /** Index of a customer id, or -1. */
  findCustomer(id: string): number {
    return this.customers.findString(id);
  }

  // ---- orders ----------------------------------------------------------------------------------------------

  orderCustomer(order: number): number {
    return this.block(order).customer[order & ORDER_BLOCK_MASK] as number;
  }

  orderDay(order: number): number {
    return this.block(order).day[order & ORDER_BLOCK_MASK] as number;
  }

  orderCents(order: number): number {
    const cents = this.block(order).cents[order & ORDER_BLOCK_MASK] as number;
    return cents === BIG_CENTS ? (this.bigCents.get(order) as number) : cents;
  }

  /** Channel code of an order (0 = none); the name is channels.get(code - 1). */
  orderChannel(order: number): number {
    const block = this.block(order);
    return block.channel === null ? 0 : (block.channel[order & ORDER_BLOCK_MASK] as number);
  }

  orderCategory(order: number): number {
    const block = this.block(order);
    return block.category === null ? 0 : (block.category[order & ORDER_BLOCK_MASK] as number);
  }

  /** The order with this order_id hash, or -1 (and the next addOrder may reuse the probe). */
  lookupOrder(hi: number, lo: number): number {
    // Lanes are compared as signed 32-bit integers, whichever way the caller holds them.
    hi |= 0;
    lo |= 0;
    if (this.table === null) this.rebuildOrderTable(this.orders);
    const table = this.table as Uint32Array;
    const mask = this.mask;
    const shift = this.shift;
    const tag = lo >>> shift;
    let slot = hi & mask;
    for (;;) {
      const word = table[slot] as number;
      if (word === 0) {
        this.probeSlot = slot;
        return -1;
      }
      if (word >>> shift === tag) {
        const order = (word & mask) - 1;
        const block = this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
        const k = order & ORDER_BLOCK_MASK;
        if (block.hi[k] === hi && block.lo[k] === lo) return order;
      }
      slot = (slot + 1) & mask;
    }
  }

  /**
   * Reads the order_id table where lookupOrder would start for each of the first `count` hashes (high
   * lanes), and returns a value derived from what it read; see ByteSet.touch for why.
   */
  touchOrders(hi: Int32Array, count: number): number {
    if (this.table === null) this.rebuildOrderTable(this.orders);
    const table = this.table as Uint32Array;
    const mask = this.mask;
    let sum = 0;
    for (let i = 0; i < count; i++) sum ^= table[(hi[i] as number) & mask] as number;
    return sum;
  }

  /** Adds an order; the caller has just had lookupOrder(hi, lo) return -1. */
  addOrder(
    hi: number,
    lo: number,
    customer: number,
    day: number,
    cents: number,
    channel: number,
    category: number,
  ) {
    this.checkUnsealed("add an order");
    hi |= 0;
    lo |= 0;
    const order = this.orders;
    const k = order & ORDER_BLOCK_MASK;
    if (k === 0) this.orderBlocks.push(new OrderBlock());
    const block = this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
    block.hi[k] = hi;
    block.lo[k] = lo;
    block.customer[k] = customer;
    block.day[k] = day;
    // A new order index is not in bigCents yet.
    if (cents > BIG_CENTS && cents <= 2147483647) block.cents[k] = cents;
    else this.storeCents(block, order, cents);
    if (channel !== 0) {
      if (block.channel === null) block.channel = new Uint16Array(ORDER_BLOCK_SIZE);
      block.channel[k] = channel;
    }
    if (category !== 0) {
      if (block.category === null) block.category = new Uint16Array(ORDER_BLOCK_SIZE);
      block.category[k] = category;
    }
    this.orders = order + 1;
    const table = this.table;
    if (table !== null) {
      if (this.orders > (this.mask + 1) * TABLE_MAX_LOAD) this.rebuildOrderTable(this.orders);
      else {
        const mask = this.mask;
        let slot = this.probeSlot;
        if (slot < 0 || table[slot] !== 0) {
          slot = hi & mask;
          while (table[slot] !== 0) slot = (slot + 1) & mask;
        }
        table[slot] = ((lo >>> this.shift) << this.shift) | (order + 1);
      }
    }
    this.probeSlot = -1;
    return order;
  }

  /**
   * Sizes the order_id table for `orders` orders in all, so that ingesting a large file does not rebuild it
   * as it grows. A hint only: the table still grows past it.
   */
  reserveOrders(orders: number): void {
    this.checkUnsealed("reserve room for orders");
    const wanted = Math.min(Math.max(orders, this.orders), 1 << 28);
    if (this.table !== null && wanted <= (this.mask + 1) * TABLE_MAX_LOAD) return;
    this.rebuildOrderTable(this.orders, wanted);
  }

  /**
   * Frees the hash tables of customer ids and order ids (some 8 bytes per order and 25 per customer); they are
   * rebuilt when an ingest or a lookup next needs them. Ingests call it when they finish, since computing
   * segments needs neither table.
   */
  releaseTables(): void {
    this.customers.releaseTable();
    this.table = null;
    this.mask = 0;
    this.shift = 0;
    this.probeSlot = -1;
  }

  /**
   * Lets go of the order-id index for good, for a caller done adding orders: the hash tables (releaseTables)
   * and every order's order_id hash (8 bytes an order). Computing segments, profiles and next best categories,
   * and adding customers' attributes, need none of it. Afterwards adding, looking up or appending orders,
   * serializing the state, handing it to another thread, verifying it, and the derived states that keep its
   * orders (withoutAttributes, withoutCustomers) throw StateError ORDERS_SEALED.
   */
  sealOrders(): void {
    this.releaseTables();
    const none = new Int32Array(0);
    for (const block of this.blocks) {
      block.hi = none;
      block.lo = none;
    }
    this.sealed = true;
  }

  /** Whether sealOrders has let the order ids go. */
  get ordersSealed(): boolean {
    return this.sealed;
  }

  /**
   * Lets go of the orders themselves, for a caller that needs none of them any more (the segment CLI once the
   * order pass has its totals): what sealOrders lets go, and every order's customer, day, cents, channel and
   * category. The customers, dictionaries, attributes, currency and orderCount stay. Afterwards whatever reads
   * an order throws StateError ORDERS_RELEASED, and whatever sealOrders refuses throws it too.
   */
  releaseOrders(): void {
    if (this.released) return;
    this.sealOrders();
    this.blocks = [];
    this.bigCents.clear();
    this.released = true;
  }

  /** Whether releaseOrders has let the orders go. */
  get ordersReleased(): boolean {
    return this.released;
  }

  private checkUnsealed(what: string): void {
    if (this.released) {
      throw new StateError("ORDERS_RELEASED", `Cannot ${what}: the state let its orders go (releaseOrders)`);
    }
    if (this.sealed) {
      throw new StateError(
        "ORDERS_SEALED",
        `Cannot ${what}: the state's order ids were let go when its orders were sealed`,
      );
    }
  }

  /**
   * Appends orders [start, end) of `from`, none of whose order_ids this state holds, as addOrder would one by
   * one: customers through `customers` (from's index to this state's), channel and category codes through
   * `channels` and `categories` (from's code to this state's; 0 = not met yet, then interned here on first
   * use and remembered). Columns are copied a run at a time. The order_id table is dropped, to be rebuilt
   * when next needed. New blocks are taken from `spare` (empty blocks, OrderBlock.emptied) while it has any.
   */
  appendOrders(
    from: AggregateState,
    start: number,
    end: number,
    customers: Int32Array,
    channels: Int32Array,
    categories: Int32Array,
    spare?: OrderBlock[],
  ): void {
    this.checkUnsealed("append orders");
    from.checkUnsealed("append its orders to another state");
    this.table = null;
    this.probeSlot = -1;
    let at = start;
    while (at < end) {
      const source = from.orderBlocks[at >>> ORDER_BLOCK_BITS] as OrderBlock;
      const sk = at & ORDER_BLOCK_MASK;
      const order = this.orders;
      const dk = order & ORDER_BLOCK_MASK;
      if (dk === 0) this.orderBlocks.push(spare?.pop() ?? new OrderBlock());
      const target = this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
      const length = Math.min(end - at, ORDER_BLOCK_SIZE - sk, ORDER_BLOCK_SIZE - dk);
      target.hi.set(source.hi.subarray(sk, sk + length), dk);
      target.lo.set(source.lo.subarray(sk, sk + length), dk);
      target.day.set(source.day.subarray(sk, sk + length), dk);
      target.cents.set(source.cents.subarray(sk, sk + length), dk);
      const sourceCustomer = source.customer;
      const targetCustomer = target.customer;
      for (let i = 0; i < length; i++) {
        targetCustomer[dk + i] = customers[sourceCustomer[sk + i] as number] as number;
      }
      for (const name of ["channel", "category"] as const) {
        const codes = source[name];
        if (codes === null) continue;
        const map = name === "channel" ? channels : categories;
        const fromSet = name === "channel" ? from.channels : from.categories;
        const toSet = name === "channel" ? this.channels : this.categories;
        for (let i = 0; i < length; i++) {
          const code = codes[sk + i] as number;
          if (code === 0) continue;
          let mapped = map[code] as number;
          if (mapped === 0) {
            const bytes = fromSet.bytes(code - 1);
            mapped = toSet.intern(bytes, 0, bytes.length) + 1;
            map[code] = mapped;
          }
          // Allocated on the first order that has a value, as addOrder does.
          let out = target[name];
          if (out === null) {
            out = new Uint16Array(ORDER_BLOCK_SIZE);
            target[name] = out;
          }
          out[dk + i] = mapped;
        }
      }
      if (from.bigCents.size > 0) {
        for (const [big, cents] of from.bigCents) {
          if (big >= at && big < at + length) this.bigCents.set(order + (big - at), cents);
        }
      }
      this.orders = order + length;
      at += length;
    }
  }

  /** Adds a line's cents to an order's amount. */
  addOrderCents(order: number, cents: number): void {
    this.storeCents(this.block(order), order, this.orderCents(order) + cents);
  }

  private storeCents(block: OrderBlock, order: number, cents: number): void {
    const k = order & ORDER_BLOCK_MASK;
    if (cents > BIG_CENTS && cents <= 2147483647) {
      block.cents[k] = cents;
      if (this.bigCents.size > 0) this.bigCents.delete(order);
    } else {
      block.cents[k] = BIG_CENTS;
      this.bigCents.set(order, cents);
    }
  }

  private block(order: number): OrderBlock {
    if (!(order >= 0 && order < this.orders)) throw new RangeError(`No order ${order}`);
    return this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
  }

  /** Builds the order_id table; false when two orders share a hash (only possible in a damaged state). */
  private rebuildOrderTable(count: number, room = count): boolean {
    this.checkUnsealed("look up an order");
    let shift = 10;
    while (2 ** shift * TABLE_MAX_LOAD < Math.max(count, room) + 1) shift++;
    this.table = null;
    const table = new Uint32Array(2 ** shift);
    const mask = 2 ** shift - 1;
    let distinct = true;
    for (let order = 0; order < count; order++) {
      const block = this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
      const k = order & ORDER_BLOCK_MASK;
      const hi = block.hi[k] as number;
      const lo = block.lo[k] as number;
      const tag = lo >>> shift;
      let slot = hi & mask;
      let duplicate = false;
      for (;;) {
        const word = table[slot] as number;
        if (word === 0) break;
        if (word >>> shift === tag) {
          const other = (word & mask) - 1;
          const ob = this.orderBlocks[other >>> ORDER_BLOCK_BITS] as OrderBlock;
          if (ob.hi[other & ORDER_BLOCK_MASK] === hi && ob.lo[other & ORDER_BLOCK_MASK] === lo) {
            duplicate = true;
            break;
          }
        }
        slot = (slot + 1) & mask;
      }
      if (duplicate) {
        distinct = false;
        continue;
      }
      table[slot] = (tag << shift) | (order + 1);
    }
    this.table = table;
    this.mask = mask;
    this.shift = shift;
    return distinct;
  }

  // ---- attributes ------------------------------------------------------------------------------------------

  /** Attribute names in order of first appearance. */
  attributeNames(): string[] {
    return this.attributeList.map((column) => column.name);
  }

  attribute(name: string): AttributeColumn | undefined {
    return this.attributeByName.get(name);
  }

  /** The column of an attribute, created when new. */
  attributeColumn(name: string): AttributeColumn {
    let column = this.attributeByName.get(name);
    if (column === undefined) {
      column = new AttributeColumn(name);
      this.attributeList.push(column);
      this.attributeByName.set(name, column);
    }
    return column;
  }

  /** All attributes of one customer (missing ones left out). */
  attributesOf(customer: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const column of this.attributeList) {
      const value = column.value(customer);
      if (value !== undefined)
        Object.defineProperty(out, column.name, { value, enumerable: true, writable: true });
    }
    return out;
  }

  // ---- derived states --------------------------------------------------------------------------------------

  /**
   * The state without orders, for a transactions upload in replace mode: customers who have attributes keep
   * them (renumbered in their order), everything learnt from transactions (orders, channels, categories,
   * currency) is dropped.
   */
  withoutOrders(): AggregateState {
    const keep = new Uint8Array(this.customerCount);
    for (const column of this.attributeList) {
      const n = Math.min(column.codes.length, keep.length);
      for (let i = 0; i < n; i++) if (column.codes[i] !== 0) keep[i] = 1;
    }
    return this.rebuild(keep, false, true);
  }

  /** The state without attributes, for a customers upload in replace mode; customers without orders go. */
  withoutAttributes(): AggregateState {
    const keep = new Uint8Array(this.customerCount);
    for (let order = 0; order < this.orders; order++) keep[this.orderCustomer(order)] = 1;
    return this.rebuild(keep, true, false);
  }

  /**
   * The state without the given customers and all of their orders and attributes (erasure). Dictionaries
   * are compacted too, so no value that only they used (or that was overwritten earlier) is left behind.
   */
  withoutCustomers(ids: Iterable<string>): AggregateState {
    const keep = new Uint8Array(this.customerCount).fill(1);
    for (const id of ids) {
      const index = this.findCustomer(id);
      if (index >= 0) keep[index] = 0;
    }
    return this.rebuild(keep, true, true, true);
  }

  private rebuild(keep: Uint8Array, orders: boolean, attributes: boolean, compact = false): AggregateState {
    if (orders) this.checkUnsealed("derive a state that keeps the orders");
    const next = new AggregateState();
    const remap = new Int32Array(this.customerCount).fill(-1);
    for (let i = 0; i < this.customerCount; i++) {
      if (keep[i] === 1)
        remap[i] = next.customers.append(this.customers.bytes(i), 0, this.customers.byteLengthOf(i));
    }
    if (orders) {
      if (!compact) {
        copySet(this.channels, next.channels);
        copySet(this.categories, next.categories);
      }
      const recode = (from: ByteSet, to: ByteSet, code: number) =>
        code === 0 || !compact ? code : to.intern(from.bytes(code - 1), 0, from.byteLengthOf(code - 1)) + 1;
      next.currencyCode = this.currencyCode;
      for (let order = 0; order < this.orders; order++) {
        const block = this.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
        const k = order & ORDER_BLOCK_MASK;
        const customer = remap[block.customer[k] as number] as number;
        if (customer < 0) continue;
        next.addOrder(
          block.hi[k] as number,
          block.lo[k] as number,
          customer,
          block.day[k] as number,
          this.orderCents(order),
          recode(this.channels, next.channels, block.channel === null ? 0 : (block.channel[k] as number)),
          recode(
            this.categories,
            next.categories,
            block.category === null ? 0 : (block.category[k] as number),
          ),
        );
      }
    }
    if (attributes) {
      for (const column of this.attributeList) {
        const copy = next.attributeColumn(column.name);
        if (!compact) copySet(column.values, copy.values);
        const n = Math.min(column.codes.length, remap.length);
        for (let i = 0; i < n; i++) {
          const to = remap[i] as number;
          const code = column.codes[i] as number;
          if (to < 0 || code === 0) continue;
          const value = compact
            ? copy.values.intern(column.values.bytes(code - 1), 0, column.values.byteLengthOf(code - 1)) + 1
            : code;
          copy.setCode(to, value);
        }
      }
    }
    return next;
  }

  // ---- hand-over between threads ---------------------------------------------------------------------------

  /**
   * The state's columns, and the buffers to transfer when posting them; the state must not be used
   * afterwards. Only for states without attributes (a transactions read); the customer-id table is left out
   * (it is rebuilt when next needed), the order_id table is kept.
   */
  toParts(): { parts: StateParts; transfer: ArrayBuffer[] } {
    if (this.attributeList.length > 0) throw new Error("toParts is for states without attributes");
    this.checkUnsealed("hand the state to another thread");
    const transfer: ArrayBuffer[] = [];
    const take = <T extends { buffer: ArrayBufferLike }>(array: T): T => {
      const buffer = array.buffer as ArrayBuffer;
      if (!transfer.includes(buffer)) transfer.push(buffer);
      return array;
    };
    const set = (bytes: ByteSet) => {
      const { ends, arena } = bytes.parts();
      return { ends: take(ends), arena: take(arena) };
    };
    const blocks = this.orderBlocks.map((block) => ({
      hi: take(block.hi),
      lo: take(block.lo),
      customer: take(block.customer),
      day: take(block.day),
      cents: take(block.cents),
      channel: block.channel === null ? null : take(block.channel),
      category: block.category === null ? null : take(block.category),
    }));
    const parts: StateParts = {
      customers: set(this.customers),
      channels: set(this.channels),
      categories: set(this.categories),
      orders: this.orders,
      blocks,
      bigCents: [...this.bigCents.entries()],
      currency: this.currencyCode,
      orderTable:
        this.table === null ? null : { table: take(this.table), mask: this.mask, shift: this.shift },
    };
    return { parts, transfer };
  }

  /** The state of toParts' columns, taken as they are (the arrays are not copied). */
  static fromParts(parts: StateParts): AggregateState {
    const set = (p: { ends: Uint32Array; arena: Uint8Array }) => {
      const bytes = ByteSet.fromParts(p.ends, p.arena);
      if (bytes === undefined) throw badState("a string table is inconsistent");
      return bytes;
    };
    const state = new AggregateState({
      customers: set(parts.customers),
      channels: set(parts.channels),
      categories: set(parts.categories),
    });
    for (const b of parts.blocks) {
      const block = new OrderBlock(b.hi, b.lo, b.customer, b.day, b.cents);
      block.channel = b.channel;
      block.category = b.category;
      state.orderBlocks.push(block);
    }
    state.orders = parts.orders;
    for (const [order, cents] of parts.bigCents) state.bigCents.set(order, cents);
    state.currencyCode = parts.currency;
    if (parts.orderTable !== null) {
      state.table = parts.orderTable.table;
      state.mask = parts.orderTable.mask;
      state.shift = parts.orderTable.shift;
    }
    return state;
  }

  // ---- serialization ---------------------------------------------------------------------------------------

  /** The state as one byte array (see serializeChunks). */
  serialize(): Uint8Array {
    return Buffer.concat([...this.serializeChunks()]);
  }

  /**
   * The serialized state as a sequence of chunks, most of them views of the state's own columns (nothing is
   * copied); concatenated they are serialize(). Valid until the state changes.
   */
  *serializeChunks(): Generator<Uint8Array> {
    if (endianness() !== "LE") throw new Error("The state format is little-endian; this machine is not");
    this.checkUnsealed("serialize the state");
    const writer = new ChunkWriter();
    writer.raw(MAGIC);
    writer.u32(FORMAT_VERSION);
    writer.u32(0);
    const bodyStart = writer.chunks.length;
    writer.u32(this.customerCount);
    writer.u32(this.orders);
    writer.text(this.currencyCode ?? "");
    writer.set(this.customers);
    writer.set(this.channels);
    writer.set(this.categories);
    const n = this.orders;
    const columns: (keyof OrderBlock)[] = ["hi", "lo", "customer", "day", "cents"];
    for (const name of columns) {
      this.writeOrderColumn(writer, n, (block) => block[name] as Uint32Array | Int32Array, 4);
    }
    for (const name of ["channel", "category"] as const) {
      const present = this.orderBlocks.some((block) => block[name] !== null);
      writer.u32(present ? 1 : 0);
      if (present) this.writeOrderColumn(writer, n, (block) => block[name], 2);
      writer.pad();
    }
    const big = [...this.bigCents.entries()].sort((a, b) => a[0] - b[0]);
    writer.u32(big.length);
    writer.pad8();
    writer.array(Float64Array.from(big.flat()));
    writer.u32(this.attributeList.length);
    for (const column of this.attributeList) {
      writer.text(column.name);
      writer.set(column.values);
      const size = column.values.size;
      const width = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
      writer.u32(width);
      const codes = new (width === 1 ? Uint8Array : width === 2 ? Uint16Array : Uint32Array)(
        this.customerCount,
      );
      const m = Math.min(this.customerCount, column.codes.length);
      for (let i = 0; i < m; i++) codes[i] = column.codes[i] as number;
      writer.array(codes);
      writer.pad();
    }
    let crc = 0;
    for (let i = bodyStart; i < writer.chunks.length; i++) crc = crc32(writer.chunks[i] as Uint8Array, crc);
    writer.u32(crc);
    writer.raw(TRAILER);
    yield* writer.chunks;
  }

  private writeOrderColumn(
    writer: ChunkWriter,
    n: number,
    pick: (block: OrderBlock) => Uint32Array | Int32Array | Uint16Array | null,
    bytesPerElement: number,
  ): void {
    for (let b = 0; b * ORDER_BLOCK_SIZE < n; b++) {
      const block = this.orderBlocks[b] as OrderBlock;
      const length = Math.min(ORDER_BLOCK_SIZE, n - b * ORDER_BLOCK_SIZE);
      const array = pick(block);
      if (array === null) writer.raw(new Uint8Array(length * bytesPerElement));
      else writer.array(array.subarray(0, length));
    }
  }

  static deserialize(bytes: Uint8Array): AggregateState {
    const reader = new ChunkReader(bytes);
    if (bytes.length < MAGIC.length + 8 || !reader.raw(MAGIC.length).every((b, i) => b === MAGIC[i])) {
      throw new StateError("BAD_STATE", "Not a segmentation state (bad magic)");
    }
    const version = reader.u32();
    if (version !== FORMAT_VERSION) {
      throw new StateError("UNSUPPORTED_STATE_VERSION", `State format version ${version} is not supported`);
    }
    reader.u32();
    const bodyStart = reader.offset;
    if (bytes.length < bodyStart + 4 + TRAILER.length) throw badState("it is truncated");
    const crcAt = bytes.length - TRAILER.length - 4;
    const trailer = bytes.subarray(crcAt + 4);
    if (!trailer.every((b, i) => b === TRAILER[i])) throw badState("it is truncated or has trailing bytes");
    const expected = new DataView(bytes.buffer, bytes.byteOffset + crcAt, 4).getUint32(0, true);
    if (crc32(bytes.subarray(bodyStart, crcAt)) !== expected) throw badState("its checksum does not match");
    reader.limit = crcAt;

    const customerCount = reader.u32();
    const orderCount = reader.u32();
    const currency = reader.text();
    const customers = reader.set();
    if (customers.size !== customerCount) throw badState("customer count mismatch");
    const state = new AggregateState({ customers, channels: reader.set(), categories: reader.set() });
    if (currency !== "") state.currencyCode = currency;
    if (state.channels.size > MAX_DICTIONARY_VALUES || state.categories.size > MAX_DICTIONARY_VALUES) {
      throw badState("too many channels or categories");
    }
    for (let b = 0; b * ORDER_BLOCK_SIZE < orderCount; b++) state.orderBlocks.push(new OrderBlock());
    const fill = (pick: (block: OrderBlock) => Uint8Array, bytesPerElement: number) => {
      for (let b = 0; b < state.orderBlocks.length; b++) {
        const length = Math.min(ORDER_BLOCK_SIZE, orderCount - b * ORDER_BLOCK_SIZE);
        pick(state.orderBlocks[b] as OrderBlock).set(reader.raw(length * bytesPerElement));
      }
    };
    const view = (array: { buffer: ArrayBufferLike }) => new Uint8Array(array.buffer);
    fill((block) => view(block.hi), 4);
    fill((block) => view(block.lo), 4);
    fill((block) => view(block.customer), 4);
    fill((block) => view(block.day), 4);
    fill((block) => view(block.cents), 4);
    for (const name of ["channel", "category"] as const) {
      const present = reader.u32();
      if (present > 1) throw badState(`bad ${name} flag`);
      if (present === 1) {
        fill((block) => {
          block[name] = new Uint16Array(ORDER_BLOCK_SIZE);
          return view(block[name] as Uint16Array);
        }, 2);
      }
      reader.pad();
    }
    const bigCount = reader.u32();
    reader.pad8();
    const big = new Float64Array(copyOf(reader.raw(bigCount * 16)).buffer);
    state.orders = orderCount;
    for (let i = 0; i < bigCount; i++) {
      const order = big[2 * i] as number;
      const cents = big[2 * i + 1] as number;
      if (!Number.isInteger(order) || order < 0 || order >= orderCount || state.bigCents.has(order)) {
        throw badState("bad large amount entry");
      }
      if (!Number.isSafeInteger(cents) || (cents > BIG_CENTS && cents <= 2147483647)) {
        throw badState("bad large amount entry");
      }
      state.bigCents.set(order, cents);
    }
    const channels = state.channels.size;
    const categories = state.categories.size;
    for (let order = 0; order < orderCount; order++) {
      const block = state.orderBlocks[order >>> ORDER_BLOCK_BITS] as OrderBlock;
      const k = order & ORDER_BLOCK_MASK;
      const day = block.day[k] as number;
      if ((block.customer[k] as number) >= customerCount) throw badState(`order ${order} has no customer`);
      if (day < MIN_DAY || day > MAX_DAY) throw badState(`order ${order} has a bad day`);
      if (block.cents[k] === BIG_CENTS && !state.bigCents.has(order))
        throw badState(`order ${order} has no amount`);
      if (block.channel !== null && (block.channel[k] as number) > channels)
        throw badState("bad channel code");
      if (block.category !== null && (block.category[k] as number) > categories)
        throw badState("bad category code");
    }
    const attributeCount = reader.u32();
    for (let a = 0; a < attributeCount; a++) {
      const name = reader.text();
      if (state.attributeByName.has(name)) throw badState(`attribute ${name} appears twice`);
      const column = new AttributeColumn(name, reader.set());
      state.attributeList.push(column);
      state.attributeByName.set(name, column);
      const width = reader.u32();
      if (width !== 1 && width !== 2 && width !== 4) throw badState("bad attribute code width");
      const raw = copyOf(reader.raw(customerCount * width));
      const codes =
        width === 1 ? raw : width === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer);
      column.codes = new Uint32Array(Math.max(customerCount, 16));
      column.codes.set(codes);
      const size = column.values.size;
      for (let i = 0; i < customerCount; i++)
        if ((column.codes[i] as number) > size) throw badState("bad attribute code");
      reader.pad();
    }
    if (reader.offset !== crcAt) throw badState("it has unread bytes");
    return state;
  }

  /**
   * Checks what deserialize leaves to later (distinct customer ids, dictionary values and order hashes) by
   * building the hash tables now. Throws StateError.
   */
  verify(): void {
    for (const [what, set] of [
      ["customer ids", this.customers],
      ["channels", this.channels],
      ["categories", this.categories],
      ...this.attributeList.map((column) => [`values of ${column.name}`, column.values] as const),
    ] as const) {
      if (!set.hasDistinctEntries()) throw badState(`its ${what} repeat`);
    }
    if (!this.rebuildOrderTable(this.orders)) throw badState("two orders have the same order id");
  }
}

const MAGIC = new Uint8Array([0x53, 0x45, 0x47, 0x53, 0x54, 0x41, 0x54, 0x45]); // "SEGSTATE"
const TRAILER = new Uint8Array([0x45, 0x4e, 0x44, 0x53, 0x54, 0x41, 0x54, 0x45]); // "ENDSTATE"
const FORMAT_VERSION = 1;

function badState(why: string): StateError {
  return new StateError("BAD_STATE", `The stored state is damaged: ${why}`);
}

/** A copy in a fresh, aligned buffer (Buffer#slice would return a view, so it is not used). */
function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

function copySet(from: ByteSet, to: ByteSet): void {
  for (let i = 0; i < from.size; i++) to.append(from.bytes(i), 0, from.byteLengthOf(i));
}

class ChunkWriter {
  readonly chunks: Uint8Array[] = [];
  private length = 0;

  raw(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  array(array: Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array): void {
    this.raw(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  }

  u32(value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    this.raw(bytes);
  }

  text(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    this.u32(bytes.length);
    this.raw(bytes);
    this.pad();
  }

  set(set: ByteSet): void {
    const { count, ends, arena } = set.parts();
    this.u32(count);
    this.u32(arena.length);
    this.array(ends);
    this.raw(arena);
    this.pad();
  }

  /** Pads to a multiple of 4 bytes. */
  pad(): void {
    if (this.length % 4 !== 0) this.raw(new Uint8Array(4 - (this.length % 4)));
  }

  pad8(): void {
    if (this.length % 8 !== 0) this.raw(new Uint8Array(8 - (this.length % 8)));
  }
}

class ChunkReader {
  offset = 0;
  limit: number;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.limit = bytes.length;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  raw(length: number): Uint8Array {
    if (!(length >= 0) || this.offset + length > this.limit) throw badState("a section runs past its end");
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u32(): number {
    if (this.offset + 4 > this.limit) throw badState("a section runs past its end");
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  text(): string {
    const length = this.u32();
    const value = Buffer.from(this.raw(length)).toString("utf8");
    this.pad();
    return value;
  }

  set(): ByteSet {
    const count = this.u32();
    const arenaLength = this.u32();
    const ends = new Uint32Array(copyOf(this.raw(count * 4)).buffer);
    const arena = this.raw(arenaLength);
    this.pad();
    const set = ByteSet.fromParts(ends, arena);
    if (set === undefined) throw badState("a string table is inconsistent");
    return set;
  }

  pad(): void {
    if (this.offset % 4 !== 0) this.raw(4 - (this.offset % 4));
  }

  pad8(): void {
    if (this.offset % 8 !== 0) this.raw(8 - (this.offset % 8));
  }
}
