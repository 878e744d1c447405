/**
 * Dry runs of a rule segment on the committed version, without fitting any model inside the request.
 *
 * A version's values are prepared once per warm function and kept by version: its aggregate state, the
 * traits that need no model (recency, frequency, monetary, RFM, lifecycle: a computation without clusters
 * and value models, which takes a fraction of a second at a million customers), and the cluster and value
 * predictions the committed run stored next to the state (pipeline/trait-snapshot.ts). Each request then only
 * compiles its rule and evaluates it over those columns (shares and attributes come from the state).
 *
 * Concurrent requests for one version share one preparation. A request that cannot finish within
 * DRY_RUN_BUDGET_MS answers 503 DRY_RUN_TIMEOUT (the preparation goes on, so a retry finds it ready); a
 * version committed before the run stored model values answers 409 DRY_RUN_UNAVAILABLE for a rule that
 * reads clv, probability_alive, expected_purchases or cluster.
 */
import {
  AggregateState,
  ComputedSegmentation,
  type ComputeSettings,
  type CustomerColumns,
  computeSegments,
  type ListSegmentSettings,
  listMembership,
  membershipSummary,
  ResultTraits,
  type RuleSegmentSettings,
  ruleEvaluationOrder,
  segmentReferences,
} from "../engine";
import { compileRule, type Rule } from "../engine/rules";
import { AppError, ConflictError, ValidationError } from "../errors";
import type { DatasetMeta } from "../model";
import type { BlobStore } from "../pipeline/ports";
import { decodeTraitSnapshot, TraitSnapshotError } from "../pipeline/trait-snapshot";
import { FUNCTION_TIMEOUT_SECONDS } from "../resources";
import { objectKeys } from "../store/keys";

/** Members a dry run lists as a sample. */
export const DRY_RUN_SAMPLE = 20;

/** Time a dry run may take before it answers DRY_RUN_TIMEOUT: the API function's timeout less 2 s. */
export const DRY_RUN_BUDGET_MS = FUNCTION_TIMEOUT_SECONDS.writeApi * 1000 - 2000;

/** Fields whose values come from the models, which a dry run reads from the stored snapshot. */
const MODEL_FIELDS = new Set(["clv", "probability_alive", "expected_purchases", "cluster"]);

const TIMEOUT_MESSAGE =
  "The dry run did not finish in time; try again in a moment (the dataset's values are being loaded), or save the segment and read its size after the recompute";

export class DryRunTimeoutError extends AppError {
  constructor() {
    super(503, "DRY_RUN_TIMEOUT", TIMEOUT_MESSAGE);
  }
}

interface Prepared {
  result: ComputedSegmentation;
  /** Whether the committed run stored its model values (clusters and value predictions). */
  models: boolean;
  attributeTypes: ComputeSettings["attributeTypes"];
  /** The traits of the computation that prepared the version, which know its attribute segments. */
  attributes: ResultTraits;
}

/**
 * Makes the attribute, list and rule segments a rule names (directly or through the rule segments it names)
 * known to `traits`: attribute segments from the version's computation, lists from their ids, rule segments
 * compiled on the same result, each after those it names.
 */
function addMemberships(
  traits: ResultTraits,
  result: ComputedSegmentation,
  rule: Rule,
  memberships: { rules: readonly RuleSegmentSettings[]; lists: readonly ListSegmentSettings[] },
  attributes: ResultTraits,
): void {
  const rules = new Map(memberships.rules.map((r) => [r.id, r]));
  const lists = new Map(memberships.lists.map((l) => [l.id, l]));
  const needed = new Set<string>();
  const pending = segmentReferences(rule).map((r) => r.segmentId);
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (needed.has(id)) continue;
    needed.add(id);
    const saved = rules.get(id);
    if (saved) pending.push(...segmentReferences(saved.rule as Rule).map((r) => r.segmentId));
  }
  for (const id of needed) {
    const list = lists.get(id);
    if (list) traits.addMembership(id, listMembership(result, list.customerIds).members);
    const attribute = id.startsWith("attr:") ? attributes.membership(id) : undefined;
    if (attribute) traits.addMembership(id, attribute);
  }
  const chosen = memberships.rules
    .filter((r) => needed.has(r.id))
    .map((r) => ({ id: r.id, rule: r.rule as Rule }));
  const ordered = ruleEvaluationOrder(chosen);
  // Saved rule segments never name each other in a cycle (the API refuses one); should they, none is added.
  if (!ordered.ok) return;
  for (const index of ordered.order) {
    const { id, rule: saved } = chosen[index] as { id: string; rule: Rule };
    traits.addMembership(id, compileRule(saved, traits, { asOf: result.asOfDay }).evaluate());
  }
}

/** Every field a rule's conditions name. */
export function fieldsOf(rule: Rule, out = new Set<string>()): Set<string> {
  if ("and" in rule) for (const r of rule.and) fieldsOf(r, out);
  else if ("or" in rule) for (const r of rule.or) fieldsOf(r, out);
  else if ("not" in rule) fieldsOf(rule.not, out);
  else out.add(rule.field);
  return out;
}

async function prepare(
  blobs: BlobStore,
  meta: DatasetMeta,
  version: number,
  settings: ComputeSettings,
): Promise<Prepared> {
  const [stateBytes, snapshotBytes] = await Promise.all([
    blobs.get(objectKeys.aggregate(meta.tenantId, meta.datasetId, version)),
    blobs.get(objectKeys.traits(meta.tenantId, meta.datasetId, version)),
  ]);
  if (!stateBytes)
    throw new ConflictError("STATE_UNAVAILABLE", "The dataset's state cannot be read; try again");
  const state = AggregateState.deserialize(stateBytes);
  const base = computeSegments(state, { ...settings, clusters: false, value: false, rules: [] });
  let columns: CustomerColumns = base.columns;
  let parts: ConstructorParameters<typeof ComputedSegmentation>[4] = {
    lifecycleWindows: base.lifecycleWindows,
  };
  let models = false;
  if (snapshotBytes) {
    let snapshot: ReturnType<typeof decodeTraitSnapshot> | undefined;
    try {
      snapshot = decodeTraitSnapshot(snapshotBytes);
    } catch (error) {
      if (!(error instanceof TraitSnapshotError)) throw error;
    }
    const order = base.columns.stateIndex;
    // The snapshot belongs to this state only if it lists the same customers in the same order.
    if (
      snapshot !== undefined &&
      snapshot.stateIndex.length === order.length &&
      snapshot.stateIndex.every((s, i) => s === order[i])
    ) {
      columns = {
        ...base.columns,
        ...(snapshot.cluster !== undefined ? { cluster: snapshot.cluster } : {}),
        ...snapshot.floats,
      };
      parts = {
        ...parts,
        ...(snapshot.clusters ? { clusters: snapshot.clusters } : {}),
        ...(snapshot.value ? { value: snapshot.value } : {}),
      };
      models = true;
    }
  }
  const result = new ComputedSegmentation(state, base.asOf, base.asOfDay, columns, parts);
  return { result, models, attributeTypes: settings.attributeTypes, attributes: base.traits };
}

export interface DryRunAnswer {
  customerCount: number;
  summary: ReturnType<typeof membershipSummary>;
  sample: string[];
}

/**
 * Dry runs over committed versions. One instance per warm function: it keeps the last prepared version of
 * each of a few datasets.
 */
export class DryRunner {
  private readonly prepared = new Map<string, { version: number; ready: Promise<Prepared> }>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly clock: () => number = () => performance.now(),
    private readonly budgetMs = DRY_RUN_BUDGET_MS,
    /** Datasets whose prepared version is kept. */
    private readonly capacity = 2,
  ) {}

  private preparation(meta: DatasetMeta, version: number, settings: ComputeSettings): Promise<Prepared> {
    const key = `${meta.tenantId}\u0000${meta.datasetId}`;
    const kept = this.prepared.get(key);
    if (kept && kept.version === version) {
      // Most recently used last.
      this.prepared.delete(key);
      this.prepared.set(key, kept);
      return kept.ready;
    }
    const ready = prepare(this.blobs, meta, version, settings);
    this.prepared.delete(key);
    this.prepared.set(key, { version, ready });
    // A failed preparation is not kept: the next request tries again.
    ready.catch(() => {
      if (this.prepared.get(key)?.ready === ready) this.prepared.delete(key);
    });
    while (this.prepared.size > this.capacity) {
      const oldest = this.prepared.keys().next().value as string;
      this.prepared.delete(oldest);
    }
    return ready;
  }

  /** Evaluates `rule` on the committed version of `meta` (which must have one). */
  async run(
    meta: DatasetMeta,
    settings: ComputeSettings,
    definition: { name: string; description?: string; rule: Rule },
    /**
     * The saved rule segments and the lists, for a rule that names segments (in_segment / not_in_segment):
     * those it names are evaluated on the same version first (rule segments in their dependency order).
     */
    memberships?: { rules: readonly RuleSegmentSettings[]; lists: readonly ListSegmentSettings[] },
  ): Promise<DryRunAnswer> {
    const current = meta.current;
    if (!current) throw new Error("dry run without a committed version");
    const started = this.clock();
    const inTime = () => {
      if (this.clock() - started > this.budgetMs) throw new DryRunTimeoutError();
    };
    const ready = this.preparation(meta, current.version, settings);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DryRunTimeoutError()), this.budgetMs);
    });
    let prepared: Prepared;
    try {
      prepared = await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    inTime();
    const { result } = prepared;
    if (!prepared.models && [...fieldsOf(definition.rule)].some((f) => MODEL_FIELDS.has(f))) {
      throw new ConflictError(
        "DRY_RUN_UNAVAILABLE",
        "This version was computed before model values were stored for dry runs; save the segment and read its size after the recompute, or try again after the next run",
      );
    }
    const traits = new ResultTraits(result, prepared.attributeTypes ?? {});
    if (memberships) addMemberships(traits, result, definition.rule, memberships, prepared.attributes);
    inTime();
    const compiled = compileRule(definition.rule, traits, { asOf: result.asOfDay });
    if (compiled.warnings.length > 0) {
      throw new ValidationError(
        "The rule cannot be evaluated on this dataset",
        compiled.warnings.map((w) => ({
          path: w.path ? `body.${w.path}` : "body.rule",
          code: `RULE_${w.code.toUpperCase()}`,
          message: w.message,
        })),
      );
    }
    inTime();
    const bits = compiled.evaluate();
    inTime();
    const summary = membershipSummary(
      result,
      "rule",
      { id: "rule:dry-run", name: definition.name, description: definition.description ?? "" },
      bits,
    );
    const sample: string[] = [];
    for (let i = 0; i < result.customerCount && sample.length < DRY_RUN_SAMPLE; i++) {
      if (bits[i] === 1) sample.push(result.source.customerId(result.columns.stateIndex[i] as number));
    }
    return { customerCount: result.customerCount, summary, sample };
  }
}
