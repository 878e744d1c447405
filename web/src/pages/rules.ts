import {
  CATEGORICAL_TRAITS,
  DATE_TRAITS,
  MEMBERSHIP_FIELD,
  NUMERIC_TRAITS,
} from "../../../shared/engine/rules/catalog";
import { describeError } from "../api";
import { link, type PageContext, type Segment } from "../context";
import { fmt, h, notice, replace, stats, uid } from "../dom";
import { describeRule, FIELD_LABEL, OP_LABEL, type Rule } from "../rule-text";

type Kind = "number" | "date" | "category" | "membership";
const KIND_OF: Record<string, Kind> = Object.fromEntries([
  ...NUMERIC_TRAITS.map((f) => [f, "number"]),
  ...DATE_TRAITS.map((f) => [f, "date"]),
  ...CATEGORICAL_TRAITS.map((f) => [f, "category"]),
  [MEMBERSHIP_FIELD, "membership"],
]);
/** The operators the editor offers for each kind; the API accepts more (see the README's rule language). */
const OPS: Record<Kind, string[]> = {
  number: ["gte", "gt", "lte", "lt", "eq", "neq", "between"],
  date: ["before", "after", "between"],
  category: ["eq", "neq", "in", "not_in"],
  membership: ["in_segment", "not_in_segment"],
};
const FAMILY_OF_FIELD: Record<string, Segment["family"]> = {
  rfm_segment: "rfm",
  cluster: "cluster",
  lifecycle: "lifecycle",
};

interface ConditionState {
  field: string;
  op: string;
  value: string;
  value2: string;
}

type Condition = Extract<Rule, { field: string }>;

function slug(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
}

/** A flat rule (one condition, or an and/or of conditions) as editor rows; undefined when nested deeper. */
function toRows(rule: Rule): { combine: "and" | "or"; rows: ConditionState[] } | undefined {
  const list = "and" in rule ? rule.and : "or" in rule ? rule.or : "not" in rule ? undefined : [rule];
  if (!list) return undefined;
  const rows: ConditionState[] = [];
  for (const r of list) {
    if (!("field" in r) || !(r.field in KIND_OF) || !("value" in r)) return undefined;
    const v = r.value;
    const text = (x: unknown) => (x && typeof x === "object" ? "" : String(x));
    if (Array.isArray(v))
      rows.push({
        field: r.field,
        op: r.op,
        value: r.op === "between" ? text(v[0]) : v.map(text).join(", "),
        value2: r.op === "between" ? text(v[1]) : "",
      });
    else rows.push({ field: r.field, op: r.op, value: text(v), value2: "" });
  }
  return { combine: "or" in rule ? "or" : "and", rows };
}

function operand(kind: Kind, text: string): string | number {
  if (kind === "membership") return text;
  return kind === "number" ? Number(text) : text.trim();
}

function toCondition(row: ConditionState): Condition {
  const kind = KIND_OF[row.field] ?? "number";
  if (row.op === "between")
    return {
      field: row.field,
      op: "between",
      value: [operand(kind, row.value), operand(kind, row.value2)],
    } as Condition;
  if (row.op === "in" || row.op === "not_in")
    return {
      field: row.field,
      op: row.op,
      value: row.value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    } as Condition;
  return { field: row.field, op: row.op, value: operand(kind, row.value) } as Condition;
}

export async function rulesPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const editing = ctx.args[0];
  const [definitions, segments, lists] = await Promise.all([
    ctx.api.listDefinitions({ params: { datasetId } }),
    ctx.api.listSegments({ params: { datasetId } }).catch(() => null),
    ctx.api.listLists({ params: { datasetId } }).catch(() => null),
  ]);
  const existing = editing ? definitions.definitions.find((d) => d.segmentId === editing) : undefined;
  root.append(h("h1", {}, existing ? `Edit “${existing.name}”` : "Rule segments"));

  root.append(
    h(
      "section",
      { "aria-labelledby": "saved" },
      h("h2", { id: "saved" }, "Saved rule segments"),
      definitions.definitions.length === 0
        ? h("p", {}, "None yet.")
        : h(
            "ul",
            { class: "rule-list" },
            ...definitions.definitions.map((d) =>
              h(
                "li",
                {},
                h("a", { href: link(datasetId, "segments", d.segmentId) }, d.name),
                " — ",
                describeRule(d.rule),
                " · ",
                h(
                  "a",
                  { href: link(datasetId, "rules", d.segmentId), "aria-label": `Edit ${d.name}` },
                  "Edit",
                ),
              ),
            ),
          ),
      editing ? h("p", {}, h("a", { href: link(datasetId, "rules") }, "Start a new rule segment")) : null,
    ),
  );

  const loaded = existing ? toRows(existing.rule) : undefined;
  let combine: "and" | "or" = loaded?.combine ?? "and";
  const rows: ConditionState[] = loaded?.rows ?? [{ field: "monetary", op: "gte", value: "100", value2: "" }];

  const name = h("input", {
    id: "rule-name",
    name: "name",
    required: true,
    maxlength: 100,
    value: existing?.name ?? "",
  });
  const description = h("input", {
    id: "rule-description",
    name: "description",
    maxlength: 500,
    value: existing?.description ?? "",
  });
  const idText = h("output", { id: "rule-id", for: "rule-name" }, existing?.segmentId ?? "rule:");
  const segmentId = () => existing?.segmentId ?? `rule:${slug(name.value) || "unnamed"}`;
  name.addEventListener("input", () => {
    idText.textContent = segmentId();
  });
  const combineSelect = h(
    "select",
    { id: "rule-combine", name: "combine" },
    h("option", { value: "and", selected: combine === "and" }, "all of these conditions"),
    h("option", { value: "or", selected: combine === "or" }, "any of these conditions"),
  );
  combineSelect.addEventListener("change", () => {
    combine = combineSelect.value as "and" | "or";
    invalidate();
  });
  const conditionsBox = h("ol", { class: "conditions" });
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const saveStatus = h("div", { "aria-live": "polite" });
  const dryRunButton = h("button", { type: "button", class: "secondary" }, "Preview size and economics");
  const saveButton = h("button", { type: "submit", disabled: true }, "Save rule segment");

  // Every segment a membership condition may name: the version's segments (lists among them) and the lists
  // and rule segments saved since, which the next run computes.
  const segmentChoices = () => {
    const seen = new Map<string, string>();
    for (const s of segments?.segments ?? []) seen.set(s.id, `${s.name} (${s.id})`);
    for (const l of lists?.lists ?? [])
      if (!seen.has(l.listId)) seen.set(l.listId, `${l.name} (${l.listId})`);
    for (const d of definitions.definitions) {
      if (d.segmentId !== existing?.segmentId && !seen.has(d.segmentId))
        seen.set(d.segmentId, `${d.name} (${d.segmentId})`);
    }
    return [...seen].map(([value, label]) => ({ value, label }));
  };
  const categoryValues = (field: string) =>
    (segments?.segments ?? [])
      .filter((s) => s.family === FAMILY_OF_FIELD[field])
      .map((s) => ({ value: s.id.split(":").slice(1).join(":"), label: s.name }));

  /** Saving needs a dry run of exactly the rule being saved. */
  let previewed: string | null = null;
  const rule = (): Rule => {
    const conditions = rows.map(toCondition);
    return conditions.length === 1
      ? (conditions[0] as Rule)
      : combine === "and"
        ? { and: conditions }
        : { or: conditions };
  };
  function invalidate() {
    previewed = null;
    saveButton.disabled = true;
  }

  function valueInput(row: ConditionState, key: "value" | "value2", label: string): HTMLElement {
    const id = uid("cond-value");
    const kind = KIND_OF[row.field] ?? "number";
    let control: HTMLInputElement | HTMLSelectElement;
    if (kind === "membership" || (kind === "category" && (row.op === "eq" || row.op === "neq"))) {
      const options = kind === "membership" ? segmentChoices() : categoryValues(row.field);
      if (!options.some((o) => o.value === row[key])) row[key] = options[0]?.value ?? "";
      control = h(
        "select",
        { id },
        ...options.map((o) => h("option", { value: o.value, selected: o.value === row[key] }, o.label)),
      );
    } else {
      control = h("input", {
        id,
        value: row[key],
        required: true,
        type: kind === "number" ? "number" : kind === "date" ? "date" : "text",
        step: kind === "number" ? "any" : null,
        inputmode: kind === "number" ? "decimal" : null,
      });
    }
    const update = () => {
      row[key] = control.value;
      invalidate();
    };
    control.addEventListener("input", update);
    control.addEventListener("change", update);
    return h("span", { class: "field" }, h("label", { for: id }, label), control);
  }

  function drawConditions() {
    replace(
      conditionsBox,
      ...rows.map((row, index) => {
        const fieldId = uid("cond-field");
        const opId = uid("cond-op");
        const kind = KIND_OF[row.field] ?? "number";
        const field = h(
          "select",
          { id: fieldId },
          ...Object.keys(KIND_OF).map((f) =>
            h("option", { value: f, selected: f === row.field }, FIELD_LABEL[f] ?? f),
          ),
        );
        const op = h(
          "select",
          { id: opId },
          ...OPS[kind].map((o) => h("option", { value: o, selected: o === row.op }, OP_LABEL[o] ?? o)),
        );
        field.addEventListener("change", () => {
          row.field = field.value;
          const k = KIND_OF[row.field] ?? "number";
          if (!OPS[k].includes(row.op)) row.op = OPS[k][0] ?? "eq";
          row.value = "";
          row.value2 = "";
          invalidate();
          drawConditions();
        });
        op.addEventListener("change", () => {
          row.op = op.value;
          invalidate();
          drawConditions();
        });
        const remove = h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Remove condition ${index + 1}`,
            disabled: rows.length === 1,
          },
          "Remove",
        );
        remove.addEventListener("click", () => {
          rows.splice(index, 1);
          invalidate();
          drawConditions();
        });
        return h(
          "li",
          { class: "condition", "aria-label": `Condition ${index + 1}` },
          h("span", { class: "field" }, h("label", { for: fieldId }, "Field"), field),
          h("span", { class: "field" }, h("label", { for: opId }, "Operator"), op),
          valueInput(
            row,
            "value",
            row.op === "between"
              ? "From"
              : row.op === "in" || row.op === "not_in"
                ? "Values (comma-separated)"
                : "Value",
          ),
          row.op === "between" ? valueInput(row, "value2", "To") : null,
          remove,
        );
      }),
    );
  }
  drawConditions();

  const addButton = h("button", { type: "button", class: "secondary" }, "Add a condition");
  addButton.addEventListener("click", () => {
    rows.push({ field: "frequency", op: "gte", value: "2", value2: "" });
    invalidate();
    drawConditions();
    (conditionsBox.lastElementChild?.querySelector("select") as HTMLSelectElement | null)?.focus();
  });

  dryRunButton.addEventListener("click", async () => {
    const body = {
      name: name.value.trim() || "Preview",
      description: description.value.trim() || undefined,
      rule: rule(),
    };
    replace(preview, notice("info", "Evaluating the rule on the current customers…"));
    try {
      const result = await ctx.api.dryRun({ params: { datasetId }, body });
      previewed = JSON.stringify(body.rule);
      saveButton.disabled = false;
      replace(
        preview,
        h("h3", {}, "If saved now"),
        h("p", {}, `Customers whose ${describeRule(body.rule)}.`),
        stats(
          [
            ["Customers", fmt.int(result.size)],
            ["Share of customers", fmt.pct(result.share)],
            ["Revenue", fmt.money(result.revenue)],
            ["Share of revenue", fmt.pct(result.revenueShare)],
            ["Average order value", fmt.money(result.averageOrderValue)],
            ...(result.meanClv === null ? [] : [["Mean CLV", fmt.money(result.meanClv)] as [string, string]]),
            ...(result.meanProbabilityAlive === null
              ? []
              : [["Mean probability alive", fmt.pct(result.meanProbabilityAlive)] as [string, string]]),
          ],
          "stats tiles",
        ),
        result.sample.length > 0
          ? h(
              "p",
              { class: "sample" },
              "For example: ",
              ...result.sample.flatMap((id, i) => [
                i > 0 ? ", " : "",
                h("a", { href: link(datasetId, "customers", id) }, id),
              ]),
            )
          : null,
      );
    } catch (error) {
      replace(preview, notice("error", describeError(error)));
    }
  });

  const form = h(
    "form",
    { class: "card editor", "aria-labelledby": "editor-title" },
    h("h2", { id: "editor-title" }, existing ? "Rule" : "New rule segment"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "rule-name" }, "Name"),
      name,
      h("label", { for: "rule-description" }, "Description (optional)"),
      description,
    ),
    h("p", { class: "help" }, "Segment id: ", idText),
    h("p", { class: "combine" }, h("label", { for: "rule-combine" }, "Customers who match "), combineSelect),
    conditionsBox,
    h("div", { class: "actions" }, addButton, dryRunButton, saveButton),
    preview,
    saveStatus,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const r = rule();
    if (previewed !== JSON.stringify(r)) return invalidate();
    if (!name.value.trim()) {
      name.focus();
      return;
    }
    saveButton.disabled = true;
    const id = segmentId();
    replace(saveStatus, notice("info", "Saving…"));
    try {
      const saved = await ctx.api.putDefinition({
        params: { datasetId, segmentId: id },
        body: { name: name.value.trim(), description: description.value.trim() || undefined, rule: r },
      });
      const savedAt = saved.updatedAt;
      replace(saveStatus, notice("info", "Saved. The dataset is being recomputed with the new rule…"));
      const deadline = Date.now() + 120_000;
      while (saved.recompute === "requested" && Date.now() < deadline) {
        const runs = await ctx.api.listRuns({ params: { datasetId }, query: { limit: 5 } });
        const run = runs.runs.find((x) => x.trigger === "definitions" && x.startedAt >= savedAt);
        if (run && run.status !== "running") break;
        await new Promise((ok) => setTimeout(ok, 1000));
      }
      replace(
        saveStatus,
        h(
          "p",
          { class: "notice notice-success", role: "status" },
          `Saved “${saved.name}”. `,
          h("a", { href: link(datasetId, "segments", id) }, "Open the segment"),
        ),
      );
    } catch (error) {
      replace(saveStatus, notice("error", describeError(error)));
      saveButton.disabled = false;
    }
  });
  root.append(form);
  if (editing && !existing) root.prepend(notice("error", `There is no rule segment ${editing}.`));
  if (existing && !loaded)
    form.prepend(
      notice(
        "info",
        `This rule (${describeRule(existing.rule)}) is nested deeper than the editor shows; building a new rule here replaces it.`,
      ),
    );
}
