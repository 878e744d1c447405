/**
 * The lists page: list segments of the dataset with their sizes, members and ids that are no customers; a
 * list created or replaced from pasted ids or a CSV file of one column (optional header `customer_id`), and
 * ids added to or removed from a list. Each change asks the service for a recompute.
 */
import type { RouteOutput } from "../../../shared/client";
import { describeError } from "../api";
import { link, type PageContext } from "../context";
import { fmt, h, notice, replace, uid } from "../dom";

type ListAnswer = RouteOutput<"listLists">["lists"][number];

/** Ids from pasted text or a CSV of one column: one per line (or comma), blanks and a `customer_id` header skipped. */
export function idsOf(text: string): string[] {
  const ids = text
    .replace(/^\uFEFF/, "")
    .split(/[\r\n,]+/)
    .map((s) =>
      s
        .trim()
        .replace(/^"(.*)"$/, "$1")
        .replace(/""/g, '"'),
    )
    .filter((s) => s !== "");
  return ids[0]?.toLowerCase() === "customer_id" ? ids.slice(1) : ids;
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
}

function row(datasetId: string, list: ListAnswer): HTMLElement {
  const run = list.lastRun;
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("a", { href: link(datasetId, "segments", list.listId) }, list.name)),
    h("td", {}, list.listId),
    h("td", { class: "num" }, fmt.int(list.size)),
    h("td", { class: "num" }, run ? fmt.int(run.members) : "—"),
    h(
      "td",
      { class: "num", "data-unknown": list.listId },
      run
        ? `${fmt.int(run.unknownIds)}${run.unknownSample.length > 0 ? ` (${run.unknownSample.join(", ")})` : ""}`
        : "—",
    ),
    h("td", {}, run ? (run.current ? `version ${run.version}` : "recompute pending") : "not computed yet"),
  );
}

export async function listsPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  root.append(h("h1", {}, "Lists"));
  root.append(
    h(
      "p",
      {},
      "Customer ids kept by hand, e.g. “already contacted”. A list is a segment (list:<name>) that rules can use with “is in segment” and “is not in segment”. Ids that are not customers are kept and counted.",
    ),
  );
  const tableBox = h("div", { id: "lists-table" });
  const status = h("div", { "aria-live": "polite", id: "lists-status" });

  async function draw() {
    const { lists } = await ctx.api.listLists({ params: { datasetId } });
    replace(
      tableBox,
      lists.length === 0
        ? h("p", {}, "No list yet.")
        : h(
            "table",
            { class: "data", "aria-label": "Lists" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["Name", "Segment id", "Ids", "Members", "Ids that are no customers", "Evaluated"].map(
                  (t) => h("th", { scope: "col" }, t),
                ),
              ),
            ),
            h("tbody", {}, ...lists.map((l) => row(datasetId, l))),
          ),
    );
    replace(listSelect, ...lists.map((l) => h("option", { value: l.listId }, `${l.name} (${l.listId})`)));
  }

  // Create or replace: a name and ids pasted or read from a CSV file.
  const nameId = uid("list-name");
  const idsId = uid("list-ids");
  const fileId = uid("list-file");
  const name = h("input", { id: nameId, required: true, maxlength: 100 });
  const ids = h("textarea", { id: idsId, rows: 5, placeholder: "one customer id per line" });
  const file = h("input", { id: fileId, type: "file", accept: ".csv,text/csv,text/plain" });
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (chosen) ids.value = await chosen.text();
  });
  const create = h(
    "form",
    { "aria-label": "Create or replace a list" },
    h("h2", {}, "Create or replace a list"),
    h("span", { class: "field" }, h("label", { for: nameId }, "Name"), name),
    h("span", { class: "field" }, h("label", { for: idsId }, "Customer ids"), ids),
    h("span", { class: "field" }, h("label", { for: fileId }, "or a CSV file of ids"), file),
    h("button", { type: "submit" }, "Save list"),
  );
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const listId = slug(name.value) || "list";
    try {
      const saved = await ctx.api.putList({
        params: { datasetId, listId },
        body: { name: name.value, customerIds: idsOf(ids.value) },
      });
      replace(
        status,
        notice(
          "success",
          `Saved ${saved.listId}: ${fmt.int(saved.size)} ids; the dataset is being recomputed.`,
        ),
      );
      await draw();
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    }
  });

  // Add or remove ids of an existing list.
  const listSelectId = uid("list-pick");
  const changeId = uid("list-change");
  const listSelect = h("select", { id: listSelectId });
  const change = h("textarea", { id: changeId, rows: 3, placeholder: "one customer id per line" });
  const add = h("button", { type: "button" }, "Add ids");
  const remove = h("button", { type: "button", class: "secondary" }, "Remove ids");
  const edit = async (kind: "add" | "remove") => {
    try {
      const changed = await ctx.api.changeListMembers({
        params: { datasetId, listId: listSelect.value },
        body: { [kind]: idsOf(change.value) },
      });
      replace(
        status,
        notice(
          "success",
          `${changed.listId} now holds ${fmt.int(changed.size)} ids; the dataset is being recomputed.`,
        ),
      );
      await draw();
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    }
  };
  add.addEventListener("click", () => void edit("add"));
  remove.addEventListener("click", () => void edit("remove"));
  const changeForm = h(
    "form",
    { "aria-label": "Add or remove ids" },
    h("h2", {}, "Add or remove ids"),
    h("span", { class: "field" }, h("label", { for: listSelectId }, "List"), listSelect),
    h("span", { class: "field" }, h("label", { for: changeId }, "Customer ids"), change),
    add,
    remove,
  );

  root.append(tableBox, status, create, changeForm);
  await draw();
}
