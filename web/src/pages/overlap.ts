/**
 * The overlap page: choose 2 to 30 segments of any family and see how they overlap, as a matrix whose
 * diagonal holds each segment's size and whose other cells hold the customers both share and their Jaccard
 * index, shaded by it; each cell links to the members of that intersection, page by page. The choice lives
 * in the address (`#/<dataset>/overlap/<id>,<id>,…`), so a matrix can be shared.
 */
import type { RouteOutput } from "../../../shared/client";
import { FAMILY_LABEL, link, type PageContext, type Segment } from "../context";
import { fmt, h, notice, replace, stats } from "../dom";

type Overlap = RouteOutput<"getOverlap">;
type Pair = Overlap["pairs"][number];

/** Segments one overlap may compare (the API's limit). */
const MAX = 30;

/** The segments preselected when none are chosen: the largest of each family, up to eight. */
function defaultChoice(segments: Segment[]): string[] {
  const byFamily = new Map<string, Segment[]>();
  for (const s of [...segments].sort((a, b) => b.size - a.size)) {
    byFamily.set(s.family, [...(byFamily.get(s.family) ?? []), s]);
  }
  const out: string[] = [];
  for (let round = 0; out.length < 8 && round < 8; round++) {
    for (const list of byFamily.values()) {
      const s = list[round];
      if (s && out.length < 8) out.push(s.id);
    }
  }
  return out;
}

/** A cell's background: the Jaccard index as the opacity of the accent colour. */
function shade(jaccard: number | null): string {
  const alpha = jaccard === null ? 0 : 0.08 + 0.72 * jaccard;
  return `background-color: rgba(37, 99, 235, ${alpha.toFixed(3)}); color: ${alpha > 0.5 ? "#fff" : "inherit"}`;
}

function matrix(datasetId: string, answer: Overlap): HTMLElement {
  const pairs = new Map<string, Pair>();
  for (const p of answer.pairs) {
    pairs.set(`${p.a}|${p.b}`, p);
    pairs.set(`${p.b}|${p.a}`, p);
  }
  const ids = answer.segments.map((s) => s.id);
  const head = h(
    "tr",
    {},
    h("td", {}),
    ...answer.segments.map((s) => h("th", { scope: "col", title: s.id }, s.name)),
  );
  const rows = answer.segments.map((row) =>
    h(
      "tr",
      {},
      h("th", { scope: "row", title: row.id }, row.name),
      ...ids.map((col) => {
        if (col === row.id) {
          return h(
            "td",
            { class: "num overlap-self", "data-a": row.id, "data-b": col },
            h("span", { class: "overlap-count" }, fmt.int(row.size)),
          );
        }
        const p = pairs.get(`${row.id}|${col}`) as Pair;
        const share = p.a === row.id ? p.shareOfA : p.shareOfB;
        return h(
          "td",
          { class: "num", style: shade(p.jaccard), "data-a": row.id, "data-b": col },
          h(
            "a",
            {
              href: link(datasetId, "overlap", "members", row.id, col),
              "aria-label": `${fmt.int(p.count)} customers in both ${row.name} and ${
                answer.segments.find((s) => s.id === col)?.name ?? col
              }: the members`,
            },
            h("span", { class: "overlap-count" }, fmt.int(p.count)),
            h("span", { class: "overlap-jaccard" }, `J ${fmt.num(p.jaccard, 3)}`),
            h("span", { class: "overlap-share" }, `${fmt.pct(share)} of row`),
          ),
        );
      }),
    ),
  );
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "overlap-matrix" },
      h(
        "caption",
        {},
        "Customers in both segments (J: Jaccard index, shared ÷ in either; the share is of the row's segment). The diagonal holds each segment's size.",
      ),
      h("thead", {}, head),
      h("tbody", {}, ...rows),
    ),
  );
}

async function membersView(ctx: PageContext, root: HTMLElement, a: string, b: string): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const list = await ctx.api.listSegments({ params: { datasetId } });
  const name = (id: string) => list.segments.find((s) => s.id === id)?.name ?? id;
  root.append(
    h("p", {}, h("a", { href: link(datasetId, "overlap") }, "← Overlap")),
    h("h1", {}, `In both ${name(a)} and ${name(b)}`),
  );
  const figures = h("div", {});
  const ids = h("ol", { class: "members", "aria-label": "Customers in both" });
  const more = h("button", { type: "button" }, "More");
  root.append(figures, ids, more);
  let cursor: string | undefined;
  let shown = 0;
  const load = async () => {
    const page = await ctx.api.listIntersectionMembers({
      params: { datasetId, segmentId: a, otherSegmentId: b },
      query: { limit: 50, cursor },
    });
    shown += page.customerIds.length;
    replace(
      figures,
      stats([
        ["Customers in both", fmt.int(page.size)],
        ["Shown", fmt.int(shown)],
        ["Version", String(page.version)],
      ]),
    );
    for (const id of page.customerIds) {
      ids.append(h("li", {}, h("a", { href: link(datasetId, "customers", id) }, id)));
    }
    cursor = page.nextCursor ?? undefined;
    more.hidden = cursor === undefined;
  };
  more.addEventListener("click", () => void load());
  await load();
}

export async function overlapPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  if (ctx.args[0] === "members" && ctx.args[1] && ctx.args[2]) {
    return membersView(ctx, root, ctx.args[1], ctx.args[2]);
  }
  root.append(h("h1", {}, "Overlap"));
  const list = await ctx.api.listSegments({ params: { datasetId } });
  const known = new Set(list.segments.map((s) => s.id));
  const asked = (ctx.args[0] ?? "").split(",").filter((id) => known.has(id));
  const chosen = new Set(asked.length >= 2 ? asked : defaultChoice(list.segments));

  const form = h("form", { class: "card overlap-choice", "aria-labelledby": "overlap-choose" });
  form.append(h("h2", { id: "overlap-choose" }, `Segments to compare (2 to ${MAX})`));
  const families = new Map<string, Segment[]>();
  for (const s of list.segments) families.set(s.family, [...(families.get(s.family) ?? []), s]);
  for (const [family, segments] of families) {
    const fieldset = h("fieldset", {}, h("legend", {}, FAMILY_LABEL[family as Segment["family"]] ?? family));
    for (const s of segments) {
      const id = `overlap-${s.id.replace(/[^a-z0-9-]/g, "-")}`;
      fieldset.append(
        h(
          "div",
          { class: "check" },
          h("input", { type: "checkbox", id, name: "segment", value: s.id, checked: chosen.has(s.id) }),
          h("label", { for: id }, `${s.name} (${fmt.int(s.size)})`),
        ),
      );
    }
    form.append(fieldset);
  }
  const status = h("div", { "aria-live": "polite" });
  form.append(h("button", { type: "submit" }, "Compare"), status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ids = Array.from(form.querySelectorAll<HTMLInputElement>("input[name=segment]:checked")).map(
      (input) => input.value,
    );
    if (ids.length < 2 || ids.length > MAX) {
      replace(status, notice("error", `Choose between 2 and ${MAX} segments; ${ids.length} are chosen.`));
      return;
    }
    ctx.navigate(link(datasetId, "overlap", ids.join(",")));
  });

  const result = h("section", { "aria-labelledby": "overlap-matrix" });
  root.append(form, result);
  const ids = [...chosen].slice(0, MAX);
  if (ids.length < 2) {
    result.append(notice("info", "Choose at least two segments."));
    return;
  }
  const answer = await ctx.api.getOverlap({ params: { datasetId }, body: { segments: ids } });
  result.append(
    h("h2", { id: "overlap-matrix" }, "Overlap matrix"),
    stats([
      ["Customers", fmt.int(answer.customerCount)],
      ["Version", String(answer.version)],
      ["As of", answer.asOf],
    ]),
    matrix(datasetId, answer),
  );
}
