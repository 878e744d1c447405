/**
 * A few DOM helpers, so pages are plain functions that build elements. No virtual DOM: every page renders
 * once per visit and updates the few nodes that change (progress, tables) by hand.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h("a", { href: "#/" }, "Home")`: attributes starting with "on" become listeners, booleans toggle. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") node.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces a node's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let idCounter = 0;
/** A document-unique id, for label/aria references. */
export function uid(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat("en-US", {
  style: "percent",
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

export const fmt = {
  int: (n: number) => integer.format(n),
  money: (n: number | null | undefined) => (n === null || n === undefined ? "—" : decimal.format(n)),
  pct: (share: number | null | undefined) =>
    share === null || share === undefined ? "—" : percent.format(share),
  num: (n: number | null | undefined, digits = 2) =>
    n === null || n === undefined
      ? "—"
      : new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(n),
  date: (iso: string | undefined) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—"),
};

/** A definition list of label → value pairs, the form every figure on a page takes. */
export function stats(pairs: Array<[string, Child]>, className = "stats"): HTMLDListElement {
  const list = h("dl", { class: className });
  for (const [label, value] of pairs) append(list, h("div", {}, h("dt", {}, label), h("dd", {}, value)));
  return list;
}

/** A table with a caption; `numeric` marks columns aligned right. */
export function table(
  caption: string,
  headers: string[],
  rows: Child[][],
  options: { numeric?: number[]; captionHidden?: boolean } = {},
): HTMLTableElement {
  const numeric = new Set(options.numeric ?? []);
  return h(
    "table",
    {},
    h("caption", options.captionHidden ? { class: "visually-hidden" } : {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...headers.map((text, i) => h("th", { scope: "col", class: numeric.has(i) ? "num" : null }, text)),
      ),
    ),
    h(
      "tbody",
      {},
      ...rows.map((cells) =>
        h(
          "tr",
          {},
          ...cells.map((cell, i) =>
            i === 0
              ? h("th", { scope: "row" }, cell)
              : h("td", { class: numeric.has(i) ? "num" : null }, cell),
          ),
        ),
      ),
    ),
  );
}

/** A status line read out by screen readers when it changes. */
export function notice(kind: "info" | "error" | "success", text: string): HTMLElement {
  return h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
