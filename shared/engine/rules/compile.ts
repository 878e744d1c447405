/**
 * Compiles a validated rule into a membership test over customers held in columns.
 *
 * Everything that depends only on the rule and the data's shape is settled once at compile time: columns are
 * fetched, dictionary labels are turned into per-code lookup tables, relative dates are resolved against
 * `asOf`, and strict bounds become closed intervals. `evaluate` then runs, block by block, one branch-free loop
 * per condition over typed arrays and combines the answers four customers at a time; `matches(i)` answers for
 * a single customer through the same compiled predicates.
 *
 * Missing values: a condition on a missing value is false, except `not_exists`, which is true exactly when
 * the value is missing. So `neq`, `not_in` and `lt` are all false for a customer without the value, while
 * `not` is plain negation: `{ not: { field, op: "eq", value } }` is true for that customer. A value is missing
 * when a float column holds NaN, a categorical code falls outside its dictionary, an attribute is null, empty
 * or not of its declared type, or the trait, share or attribute is not available at all.
 */
import type { AttributeType, AttributeValue } from "./attributes";
import {
  type CategoricalTrait,
  type CheckResult,
  checkCondition,
  type DateOperand,
  type DateTrait,
  type FieldRef,
  type NormalCondition,
  type NumericTrait,
  type Operand,
  RULE_LIMITS,
  type ShareDimension,
} from "./catalog";
import { parseIsoDay } from "./dates";
import { formatPath, type Rule, type RuleIssue } from "./schema";

/** A numeric column; in float arrays NaN marks a missing value, integer arrays have none. */
export type NumericColumn =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export type CodeArray = Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/** A categorical column: `dictionary[codes[i]]` is customer i's label; a code outside the dictionary is missing. */
export interface CategoricalColumn {
  codes: CodeArray;
  dictionary: readonly string[];
}

/**
 * Where a compiled rule reads customer data; customers are indexed 0..size-1. Share keys and attribute names
 * come from API clients: look them up in a Map or with Object.hasOwn, never by indexing a plain object.
 */
export interface TraitSource {
  readonly size: number;
  /** A numeric trait, or a date trait as day numbers; undefined when the trait was not computed. */
  numeric(trait: NumericTrait | DateTrait): NumericColumn | undefined;
  /** undefined when the trait was not computed. */
  categorical(trait: CategoricalTrait): CategoricalColumn | undefined;
  /**
   * Each customer's share (0..1) of net spend in one channel or category, as a column or a reader. Customers
   * with no spend there have 0; NaN where the share is undefined (no spend at all). Return a column for any
   * key, including keys never seen in the data; undefined only when the data has no such dimension.
   */
  share(dimension: ShareDimension, key: string): NumericColumn | ((i: number) => number) | undefined;
  /** The declared or inferred type of an attribute; undefined when the customers file has no such column. */
  attributeType(name: string): AttributeType | undefined;
  /** Customer i's value of an attribute, typed as `attributeType` says (dates as day numbers). */
  attribute(i: number, name: string): AttributeValue | undefined;
  /**
   * Optional: a reader of one attribute for all customers, resolved once at compile time so that evaluation
   * does not look the name up for every customer. Must agree with `attribute`.
   */
  attributeReader?(name: string): ((i: number) => AttributeValue | undefined) | undefined;
  /**
   * Membership of a segment of any family in the same computation, 1 for a member and 0 otherwise; undefined
   * when the segment is not known. Membership conditions need it; a source without it knows no segment.
   */
  membership?(segmentId: string): Uint8Array | undefined;
}

export interface CompileOptions {
  /** The evaluation date, as a day number or `yyyy-mm-dd`; `{ days_ago: n }` means asOf - n. */
  asOf: number | string;
}

export interface CompiledRule {
  /** Number of customers, from the source. */
  readonly size: number;
  /** Conditions that can never match in this data (unknown attribute, type mismatch, trait not computed). */
  readonly warnings: readonly RuleIssue[];
  /** Whether customer i is a member. */
  matches(i: number): boolean;
  /** Membership of every customer, 1 for a member and 0 otherwise, written into `out` (or a new array). */
  evaluate(out?: Uint8Array): Uint8Array;
}

/** A rule that did not come through the schema, or a source whose columns are shorter than its size. */
export class RuleCompileError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "RuleCompileError";
  }
}

/** Counts the members in an evaluation result. */
export function countMembers(members: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < members.length; i++) count += members[i] as number;
  return count;
}

/**
 * Rows are evaluated a block at a time: a block's intermediate answers stay in the CPU's first-level cache,
 * and an `and` stops early in a block where no row is left (an `or` where every row is in).
 */
const BLOCK = 4096;
const ONES = 0x01010101;

/** Answers for one block of rows, one byte each, with a word view to combine four rows at a time. */
interface Block {
  bytes: Uint8Array;
  words: Uint32Array;
}

function newBlock(): Block {
  const bytes = new Uint8Array(BLOCK);
  return { bytes, words: new Uint32Array(bytes.buffer) };
}

/** One block per nesting level, so that combining children never allocates while evaluating. */
class Blocks {
  private readonly levels: Block[] = [];
  at(level: number): Block {
    let block = this.levels[level];
    if (!block) {
      block = newBlock();
      this.levels[level] = block;
    }
    return block;
  }
}

interface Node {
  /** Set when the node has the same answer for every customer. */
  readonly constant?: boolean;
  row(i: number): boolean;
  /** Writes the answers for rows start..end-1 into block.bytes[0 .. end-start). */
  fill(block: Block, start: number, end: number, blocks: Blocks): void;
}

const NEVER: Node = {
  constant: false,
  row: () => false,
  fill: (b, start, end) => b.bytes.fill(0, 0, end - start),
};
const ALWAYS: Node = {
  constant: true,
  row: () => true,
  fill: (b, start, end) => b.bytes.fill(1, 0, end - start),
};

/** The set of converted operands, or undefined when one of them does not convert. */
function collect<T>(
  operands: readonly Operand[],
  convert: (o: Operand) => T | undefined,
): Set<T> | undefined {
  const set = new Set<T>();
  for (const operand of operands) {
    const value = convert(operand);
    if (value === undefined) return undefined;
    set.add(value);
  }
  return set;
}

// ---- numeric predicates ------------------------------------------------------------------------------------

/** A test on a number where NaN is missing. Every comparison operator reduces to one of these. */
type NumPred =
  | { t: "range"; lo: number; hi: number }
  | { t: "neq"; x: number }
  /** `list` holds the same values as `set` when there are few enough to scan. */
  | { t: "in" | "not_in"; set: Set<number>; list: Float64Array | undefined }
  | { t: "exists" }
  | { t: "not_exists" };

const bits = new Float64Array(1);
const bitsAsInt = new BigInt64Array(bits.buffer);

/** The smallest double greater than a finite x, so that `v > x` is exactly `v >= nextUp(x)`. */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  bits[0] = x;
  // For positive doubles the bit pattern grows with the value, for negative ones it shrinks.
  bitsAsInt[0] = (bitsAsInt[0] as bigint) + (x > 0 ? 1n : -1n);
  return bits[0] as number;
}

/** The largest double less than a finite x. */
export function nextDown(x: number): number {
  return -nextUp(-x);
}

function numTest(p: NumPred): (v: number) => boolean {
  switch (p.t) {
    case "range": {
      const { lo, hi } = p;
      // Without a branch, as in the kernels below.
      return (v) => (Number(v >= lo) & Number(v <= hi)) === 1;
    }
    case "neq": {
      const x = p.x;
      return (v) => !Number.isNaN(v) && v !== x;
    }
    case "in":
    case "not_in": {
      const set = p.set;
      return p.t === "in" ? (v) => set.has(v) : (v) => !Number.isNaN(v) && !set.has(v);
    }
    case "exists":
      return (v) => !Number.isNaN(v);
    case "not_exists":
      return (v) => Number.isNaN(v);
  }
}

/** Lists up to this long are scanned, which beats hashing for the short lists rules usually carry. */
const SCAN_LIMIT = 16;

// The kernels below compute each answer as `Number(a) & Number(b)` rather than `a && b ? 1 : 0`: the compiled
// code then has no branch per row, and random data cannot make it mispredict (about five times faster).
// A NaN fails every ordered comparison, which is how missing values drop out; `v <= Infinity` is "not NaN".
function fillNumeric(col: NumericColumn, p: NumPred, out: Uint8Array, start: number, end: number): void {
  switch (p.t) {
    case "range": {
      const { lo, hi } = p;
      for (let i = start, k = 0; i < end; i++, k++) {
        const v = col[i] as number;
        out[k] = Number(v >= lo) & Number(v <= hi);
      }
      return;
    }
    case "neq": {
      const x = p.x;
      for (let i = start, k = 0; i < end; i++, k++) {
        const v = col[i] as number;
        out[k] = Number(v < x) | Number(v > x);
      }
      return;
    }
    case "in":
    case "not_in": {
      const flip = p.t === "in" ? 0 : 1;
      const list = p.list;
      if (list) {
        const m = list.length;
        for (let i = start, k = 0; i < end; i++, k++) {
          const v = col[i] as number;
          let hit = 0;
          for (let j = 0; j < m; j++) hit |= Number(v === list[j]);
          out[k] = (hit ^ flip) & Number(v <= Number.POSITIVE_INFINITY);
        }
      } else {
        const set = p.set;
        for (let i = start, k = 0; i < end; i++, k++) {
          const v = col[i] as number;
          out[k] = (Number(set.has(v)) ^ flip) & Number(v <= Number.POSITIVE_INFINITY);
        }
      }
      return;
    }
    case "exists":
      for (let i = start, k = 0; i < end; i++, k++)
        out[k] = Number((col[i] as number) <= Number.POSITIVE_INFINITY);
      return;
    case "not_exists":
      for (let i = start, k = 0; i < end; i++, k++)
        out[k] = Number(!((col[i] as number) <= Number.POSITIVE_INFINITY));
      return;
  }
}

function columnNode(col: NumericColumn, p: NumPred): Node {
  const test = numTest(p);
  return {
    row: (i) => test(col[i] as number),
    fill: (block, start, end) => fillNumeric(col, p, block.bytes, start, end),
  };
}

/** A node over any per-customer reader; the fallback when values do not sit in a typed array. */
function readerNode<T>(read: (i: number) => T, test: (v: T) => boolean): Node {
  const row = (i: number) => test(read(i));
  return {
    row,
    fill: (block, start, end) => {
      const out = block.bytes;
      for (let i = start, k = 0; i < end; i++, k++) out[k] = Number(row(i));
    },
  };
}

/**
 * Reduces a comparison to a numeric predicate; `toNumber` maps an operand onto the column's scale (numbers as
 * they are, dates to day numbers) and returns undefined when the operand does not fit the field.
 */
function numericPredicate(
  cond: NormalCondition,
  toNumber: (o: Operand) => number | undefined,
): NumPred | undefined {
  switch (cond.op) {
    case "exists":
    case "not_exists":
      return { t: cond.op };
    case "in":
    case "not_in": {
      const set = collect(cond.operands, toNumber);
      return set && { t: cond.op, set, list: set.size <= SCAN_LIMIT ? Float64Array.from(set) : undefined };
    }
    case "between": {
      const lo = toNumber(cond.low);
      const hi = toNumber(cond.high);
      return lo === undefined || hi === undefined ? undefined : { t: "range", lo, hi };
    }
    case "contains":
    case "starts_with":
    case "in_segment":
    case "not_in_segment":
      return undefined;
    default: {
      const x = toNumber(cond.operand);
      if (x === undefined) return undefined;
      switch (cond.op) {
        case "eq":
          return { t: "range", lo: x, hi: x };
        case "neq":
          return { t: "neq", x };
        case "gt":
        case "after":
          return { t: "range", lo: nextUp(x), hi: Number.POSITIVE_INFINITY };
        case "gte":
          return { t: "range", lo: x, hi: Number.POSITIVE_INFINITY };
        case "lt":
        case "before":
          return { t: "range", lo: Number.NEGATIVE_INFINITY, hi: nextDown(x) };
        case "lte":
          return { t: "range", lo: Number.NEGATIVE_INFINITY, hi: x };
      }
    }
  }
}

// ---- string predicates -------------------------------------------------------------------------------------

/** A test on a present string; undefined when the condition's operands are not strings. */
function stringTest(cond: NormalCondition): ((v: string) => boolean) | undefined {
  const text = (o: Operand) => (o.kind === "string" ? o.value : undefined);
  switch (cond.op) {
    case "in":
    case "not_in": {
      const set = collect(cond.operands, text);
      if (!set) return undefined;
      return cond.op === "in" ? (v) => set.has(v) : (v) => !set.has(v);
    }
    case "eq":
    case "neq":
    case "contains":
    case "starts_with": {
      const s = text(cond.operand);
      if (s === undefined) return undefined;
      if (cond.op === "eq") return (v) => v === s;
      if (cond.op === "neq") return (v) => v !== s;
      if (cond.op === "contains") return (v) => v.includes(s);
      return (v) => v.startsWith(s);
    }
    default:
      return undefined;
  }
}

function categoricalNode(column: CategoricalColumn, cond: NormalCondition): Node {
  const { codes, dictionary } = column;
  const size = dictionary.length;
  // table[code] is the answer for a customer with that code; `missing` the answer for a code outside it.
  const table = new Uint8Array(size);
  let missing = 0;
  if (cond.op === "not_exists") missing = 1;
  else if (cond.op === "exists") table.fill(1);
  else {
    const test = stringTest(cond);
    if (!test) return NEVER;
    dictionary.forEach((label, code) => {
      table[code] = test(label) ? 1 : 0;
    });
  }
  const row = (i: number) => {
    const c = codes[i] as number;
    return (c >= 0 && c < size ? table[c] : missing) === 1;
  };
  return {
    row,
    fill: (block, start, end) => {
      const out = block.bytes;
      for (let i = start, k = 0; i < end; i++, k++) {
        const c = codes[i] as number;
        out[k] = c >= 0 && c < size ? (table[c] as number) : missing;
      }
    },
  };
}

// ---- attributes --------------------------------------------------------------------------------------------

type Present<T> = (v: AttributeValue | undefined) => v is T & AttributeValue;

const isString: Present<string> = (v): v is string => typeof v === "string" && v !== "";
const isNumber: Present<number> = (v): v is number => typeof v === "number" && !Number.isNaN(v);
const isBoolean: Present<boolean> = (v): v is boolean => typeof v === "boolean";
const isList: Present<readonly string[]> = (v): v is readonly string[] => Array.isArray(v);

const PRESENT: Readonly<Record<AttributeType, (v: AttributeValue | undefined) => boolean>> = {
  string: isString,
  number: isNumber,
  date: isNumber,
  boolean: isBoolean,
  list: isList,
};

/** The test on a present value of an attribute of the given type, or undefined on a type mismatch. */
function attributeTest(
  type: AttributeType,
  cond: NormalCondition,
  resolveDate: (d: DateOperand) => number,
): ((v: AttributeValue | undefined) => boolean) | undefined {
  const guarded = <T>(present: Present<T>, test: ((v: T) => boolean) | undefined) =>
    test && ((v: AttributeValue | undefined) => present(v) && test(v));
  switch (type) {
    case "string":
      return guarded(isString, stringTest(cond));
    case "number": {
      const pred = numericPredicate(cond, (o) => (o.kind === "number" ? o.value : undefined));
      return guarded(isNumber, pred && numTest(pred));
    }
    case "date": {
      const toDay = (o: Operand) => {
        if (o.kind === "date") return resolveDate(o.value);
        return o.kind === "string" ? o.day : undefined;
      };
      const pred = numericPredicate(cond, toDay);
      return guarded(isNumber, pred && numTest(pred));
    }
    case "boolean": {
      const flag = (o: Operand) => (o.kind === "boolean" ? o.value : undefined);
      if (cond.op === "eq" || cond.op === "neq") {
        const b = flag(cond.operand);
        if (b === undefined) return undefined;
        return guarded(isBoolean, cond.op === "eq" ? (v) => v === b : (v) => v !== b);
      }
      if (cond.op === "in" || cond.op === "not_in") {
        const set = collect(cond.operands, flag);
        if (!set) return undefined;
        const inList = cond.op === "in";
        return guarded(isBoolean, (v) => set.has(v) === inList);
      }
      return undefined;
    }
    case "list": {
      if (cond.op !== "contains" || cond.operand.kind !== "string") return undefined;
      const element = cond.operand.value;
      return guarded(isList, (v) => v.includes(element));
    }
  }
}

// ---- compiler ----------------------------------------------------------------------------------------------

/** The node for a value that is missing for every customer. */
function allMissing(cond: NormalCondition): Node {
  return cond.op === "not_exists" ? ALWAYS : NEVER;
}

function resolveAsOf(asOf: number | string): number {
  const day = typeof asOf === "number" ? asOf : parseIsoDay(asOf);
  if (day === undefined || !Number.isInteger(day)) {
    throw new RuleCompileError(
      "invalid_as_of",
      "asOf must be a day number or an ISO date yyyy-mm-dd",
      "asOf",
    );
  }
  return day;
}

class Compiler {
  readonly warnings: RuleIssue[] = [];
  private readonly resolveDate: (d: DateOperand) => number;

  constructor(
    private readonly source: TraitSource,
    asOf: number,
  ) {
    this.resolveDate = (d) => ("day" in d ? d.day : asOf - d.daysAgo);
  }

  private warn(path: string, code: string, message: string): void {
    this.warnings.push({ path, code, message });
  }

  private checkLength(length: number, path: string): void {
    if (length < this.source.size) {
      throw new RuleCompileError(
        "column_too_short",
        `a column has ${length} entries for ${this.source.size} customers`,
        path,
      );
    }
  }

  node(rule: Rule, path: string, depth: number): Node {
    if (depth > RULE_LIMITS.maxDepth) {
      throw new RuleCompileError("too_deep", `rules nest at most ${RULE_LIMITS.maxDepth} levels deep`, path);
    }
    if ("and" in rule) return this.group("and", rule.and, path, depth);
    if ("or" in rule) return this.group("or", rule.or, path, depth);
    if ("not" in rule) return negate(this.node(rule.not, `${path}.not`, depth + 1));
    const checked: CheckResult = checkCondition(rule);
    if (!checked.ok) {
      const first = checked.issues[0];
      throw new RuleCompileError(
        first?.code ?? "invalid_rule",
        first?.message ?? "invalid condition",
        formatPath(first?.path ?? [], path),
      );
    }
    return this.leaf(checked.condition, path);
  }

  private group(kind: "and" | "or", rules: readonly Rule[], path: string, depth: number): Node {
    if (rules.length === 0) {
      throw new RuleCompileError("empty_group", `${kind} needs at least one rule`, path);
    }
    const children = rules.map((r, index) => this.node(r, `${path}.${kind}[${index}]`, depth + 1));
    return kind === "and" ? conjunction(children, depth) : disjunction(children, depth);
  }

  private leaf(cond: NormalCondition, path: string): Node {
    const field: FieldRef = cond.field;
    const mismatch = (message: string) => {
      this.warn(path, "type_mismatch", message);
      return NEVER;
    };
    if (cond.op === "in_segment" || cond.op === "not_in_segment") {
      const members = this.source.membership?.(cond.segmentId);
      if (!members) {
        // A segment that does not exist has no members: nobody is in it, everybody is not.
        this.warn(path, "unknown_segment", "no segment of this dataset has this id");
        return cond.op === "in_segment" ? NEVER : ALWAYS;
      }
      this.checkLength(members.length, path);
      const x = cond.op === "in_segment" ? 1 : 0;
      return columnNode(members, { t: "range", lo: x, hi: x });
    }
    switch (field.kind) {
      case "membership":
        return mismatch(`${cond.op} does not apply to segment membership`);
      case "number":
      case "date": {
        const column = this.source.numeric(field.trait);
        if (!column) {
          this.warn(path, "trait_unavailable", `${field.trait} was not computed for this dataset`);
          return allMissing(cond);
        }
        this.checkLength(column.length, path);
        const toNumber =
          field.kind === "number"
            ? (o: Operand) => (o.kind === "number" ? o.value : undefined)
            : (o: Operand) => (o.kind === "date" ? this.resolveDate(o.value) : undefined);
        const pred = numericPredicate(cond, toNumber);
        return pred ? columnNode(column, pred) : mismatch(`${cond.op} does not apply to ${field.trait}`);
      }
      case "share": {
        const share = this.source.share(field.dimension, field.key);
        if (!share) {
          this.warn(path, "share_unavailable", `the data has no ${field.dimension} to compute shares from`);
          return allMissing(cond);
        }
        const pred = numericPredicate(cond, (o) => (o.kind === "number" ? o.value : undefined));
        if (!pred) return mismatch(`${cond.op} does not apply to a share`);
        if (typeof share === "function") return readerNode(share, numTest(pred));
        this.checkLength(share.length, path);
        return columnNode(share, pred);
      }
      case "category": {
        const column = this.source.categorical(field.trait);
        if (!column) {
          this.warn(path, "trait_unavailable", `${field.trait} was not computed for this dataset`);
          return allMissing(cond);
        }
        this.checkLength(column.codes.length, path);
        return categoricalNode(column, cond);
      }
      case "attribute": {
        const type = this.source.attributeType(field.name);
        if (type === undefined) {
          this.warn(path, "unknown_attribute", "the customers data has no such attribute");
          return allMissing(cond);
        }
        const present = PRESENT[type];
        const source = this.source;
        const name = field.name;
        const read = source.attributeReader?.(name) ?? ((i: number) => source.attribute(i, name));
        if (cond.op === "exists") return readerNode(read, present);
        if (cond.op === "not_exists") return readerNode(read, (v) => !present(v));
        const test = attributeTest(type, cond, this.resolveDate);
        return test
          ? readerNode(read, test)
          : mismatch(`${cond.op} with this value does not apply to an attribute of type ${type}`);
      }
    }
  }
}

/** Words that hold the first `rows` answers of a block (the last one may carry stale bytes past the end). */
function wordsFor(rows: number): number {
  return (rows + 3) >> 2;
}

function negate(child: Node): Node {
  if (child.constant !== undefined) return child.constant ? NEVER : ALWAYS;
  return {
    row: (i) => !child.row(i),
    fill: (block, start, end, blocks) => {
      child.fill(block, start, end, blocks);
      const words = block.words;
      const count = wordsFor(end - start);
      for (let w = 0; w < count; w++) words[w] = (words[w] as number) ^ ONES;
    },
  };
}

function conjunction(children: Node[], depth: number): Node {
  if (children.some((c) => c.constant === false)) return NEVER;
  const live = children.filter((c) => c.constant === undefined);
  return combine(live, depth, ALWAYS, "and");
}

function disjunction(children: Node[], depth: number): Node {
  if (children.some((c) => c.constant === true)) return ALWAYS;
  const live = children.filter((c) => c.constant === undefined);
  return combine(live, depth, NEVER, "or");
}

function combine(children: Node[], depth: number, empty: Node, kind: "and" | "or"): Node {
  const [first, ...rest] = children;
  if (!first) return empty;
  if (rest.length === 0) return first;
  const all = children;
  const row =
    kind === "and"
      ? (i: number) => {
          for (const c of all) if (!c.row(i)) return false;
          return true;
        }
      : (i: number) => {
          for (const c of all) if (c.row(i)) return true;
          return false;
        };
  const and = kind === "and";
  return {
    row,
    fill: (block, start, end, blocks) => {
      first.fill(block, start, end, blocks);
      const rows = end - start;
      const count = wordsFor(rows);
      const words = block.words;
      const other = blocks.at(depth);
      const otherWords = other.words;
      for (const c of rest) {
        if (and ? noneSet(block.bytes, rows) : allSet(block.bytes, rows)) return;
        c.fill(other, start, end, blocks);
        if (and) for (let w = 0; w < count; w++) words[w] = (words[w] as number) & (otherWords[w] as number);
        else for (let w = 0; w < count; w++) words[w] = (words[w] as number) | (otherWords[w] as number);
      }
    },
  };
}

function noneSet(bytes: Uint8Array, rows: number): boolean {
  for (let k = 0; k < rows; k++) if (bytes[k] !== 0) return false;
  return true;
}

function allSet(bytes: Uint8Array, rows: number): boolean {
  for (let k = 0; k < rows; k++) if (bytes[k] === 0) return false;
  return true;
}

/**
 * Compiles a rule (as produced by `ruleSchema` / `segmentDefinitionSchema`) against a source. Throws
 * RuleCompileError only for a rule that would not pass the schema or a source with short columns; conditions
 * that cannot match in this data are reported in `warnings` instead.
 */
export function compileRule(rule: Rule, source: TraitSource, options: CompileOptions): CompiledRule {
  const compiler = new Compiler(source, resolveAsOf(options.asOf));
  const root = compiler.node(rule, "rule", 1);
  const size = source.size;
  return {
    size,
    warnings: compiler.warnings,
    matches: (i) => i >= 0 && i < size && root.row(i),
    evaluate: (out = new Uint8Array(size)) => {
      if (out.length < size) {
        throw new RuleCompileError(
          "output_too_short",
          `the output has room for ${out.length} of ${size}`,
          "out",
        );
      }
      const blocks = new Blocks();
      // Level 0 holds the root's answers; an and/or at depth d combines through level d.
      const block = blocks.at(0);
      for (let start = 0; start < size; start += BLOCK) {
        const end = Math.min(size, start + BLOCK);
        root.fill(block, start, end, blocks);
        out.set(end - start === BLOCK ? block.bytes : block.bytes.subarray(0, end - start), start);
      }
      return out;
    },
  };
}
