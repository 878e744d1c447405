/**
 * No import cycle inside shared/engine. The import graph is the compiler's own: `tsc --listFilesOnly
 * --explainFiles` over every engine file, with the project's module resolution, names each file and every
 * import that brought it in ("Imported via "./x" from file 'y'"), type-only imports and re-exports included.
 * The engine's edges, less the known ones listed below with their reason, must form no cycle; each known edge
 * must still exist (a removed one leaves the list). The graph walk is checked on a graph with planted cycles.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");
const ENGINE = "shared/engine/";

/**
 * Imports that still close a cycle, each type-only (no cycle at run time). Paths are under shared/engine.
 */
const KNOWN: ReadonlyArray<{ from: string; to: string; reason: string }> = [
  ...["attribute-families.ts", "lookalike/index.ts", "next-best-category.ts"].map((to) => ({
    from: "types.ts",
    to,
    reason: "the public settings and result types name the settings and reports declared beside each stage",
  })),
  ...[
    "attribute-families.ts",
    "lookalike/features.ts",
    "lookalike/index.ts",
    "next-best-category.ts",
    "profiles/from-result.ts",
    "profiles/profile.ts",
  ].map((from) => ({
    from,
    to: "compute.ts",
    reason: "a stage run by computeSegments reads the whole ComputedSegmentation it is given",
  })),
];

type Graph = Map<string, Set<string>>;

/** The import edges between engine files, as the compiler resolved them (importer -> imported). */
function engineImports(): Graph {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory()) walk(`${path}/`);
      else if (entry.name.endsWith(".ts")) files.push(join(ROOT, path));
    }
  };
  walk(ENGINE);
  const dir = mkdtempSync(join(tmpdir(), "engine-imports-"));
  try {
    const config = join(dir, "tsconfig.json");
    writeFileSync(
      config,
      JSON.stringify({
        extends: join(ROOT, "tsconfig.json"),
        compilerOptions: { typeRoots: [join(ROOT, "node_modules/@types")] },
        files,
        include: [],
      }),
    );
    const out = execFileSync(
      process.execPath,
      [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", config, "--listFilesOnly", "--explainFiles"],
      { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    return parseExplainFiles(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The engine-internal edges of `tsc --explainFiles` output (paths relative to the repository). */
function parseExplainFiles(out: string): Graph {
  const graph: Graph = new Map();
  let file: string | undefined;
  for (const line of out.split(/\r?\n/)) {
    if (line.length > 0 && !/^\s/.test(line)) {
      file = relative(ROOT, join(ROOT, line.trim())).replaceAll("\\", "/");
      continue;
    }
    const m = /^\s+Imported via (["']).*?\1 from file '(.+)'/.exec(line);
    if (!m || file === undefined) continue;
    const importer = relative(ROOT, join(ROOT, m[2] as string)).replaceAll("\\", "/");
    if (!file.startsWith(ENGINE) || !importer.startsWith(ENGINE)) continue;
    const from = importer.slice(ENGINE.length);
    const to = file.slice(ENGINE.length);
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)?.add(to);
  }
  return graph;
}

/** One cycle of each strongly connected component with more than one file (or a file importing itself). */
function cyclesOf(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // A path around each component, for the failure message: from its first file back to it.
  return components.map((component) => {
    const inside = new Set(component);
    const start = [...component].sort()[0] as string;
    const previous = new Map<string, string>();
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const v = queue[i] as string;
      for (const w of graph.get(v) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const path = [v];
          while (path[0] !== start) path.unshift(previous.get(path[0] as string) as string);
          return [...path, start];
        }
        if (!previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
    return component;
  });
}

function without(graph: Graph, edges: ReadonlyArray<{ from: string; to: string }>): Graph {
  const copy: Graph = new Map([...graph].map(([k, v]) => [k, new Set(v)]));
  for (const { from, to } of edges) copy.get(from)?.delete(to);
  return copy;
}

describe("imports inside shared/engine", () => {
  const graph = engineImports();

  it("reads the compiler's graph, type-only imports and re-exports included", () => {
    // Known edges of each kind: a value import, a type-only import and a re-export.
    expect(graph.get("compute.ts")?.has("traits.ts")).toBe(true);
    expect(graph.get("attribute-families.ts")?.has("compute.ts")).toBe(true);
    expect(graph.get("clv/index.ts")?.has("clv/predict.ts")).toBe(true);
    expect(graph.size).toBeGreaterThan(40);
  });

  it("form no cycle but the known ones, and traits does not import compute", () => {
    expect(cyclesOf(without(graph, KNOWN)).map((cycle) => cycle.join(" -> "))).toEqual([]);
    expect(graph.get("traits.ts")?.has("compute.ts")).toBe(false);
    expect(graph.get("clv/uncertainty.ts")?.has("clv/predict.ts")).toBe(false);
  });

  it("list only known edges that exist", () => {
    const missing = KNOWN.filter(({ from, to }) => !graph.get(from)?.has(to));
    expect(missing).toEqual([]);
  });
});

describe("the cycle search", () => {
  it("finds planted cycles, a self-import, and none in a graph without", () => {
    const graph: Graph = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c", "d"])],
      ["c", new Set(["a"])],
      ["d", new Set(["e"])],
      ["e", new Set<string>()],
      ["f", new Set(["f"])],
      ["g", new Set(["h"])],
      ["h", new Set(["g"])],
    ]);
    expect(
      cyclesOf(graph)
        .map((c) => c.join(" -> "))
        .sort(),
    ).toEqual(["a -> b -> c -> a", "f -> f", "g -> h -> g"]);
    expect(
      cyclesOf(
        without(graph, [
          { from: "c", to: "a" },
          { from: "f", to: "f" },
          { from: "h", to: "g" },
        ]),
      ),
    ).toEqual([]);
  });

  it("reads edges from the compiler's explanation of its files", () => {
    const out = [
      "shared/engine/b.ts",
      "   Imported via \"./b\" from file 'shared/engine/a.ts'",
      "   Imported via '../engine/b' from file 'shared/api/x.ts'",
      "shared/engine/a.ts",
      "   Matched by include pattern 'shared' in 'tsconfig.json'",
      "   Imported via \"./a\" from file 'shared/engine/b.ts'",
    ].join("\n");
    expect([...parseExplainFiles(out)].map(([k, v]) => [k, [...v]])).toEqual([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["a.ts"]],
    ]);
  });
});
