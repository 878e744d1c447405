/**
 * The built site as the local service serves it, without a browser: buildWeb writes a complete site, the
 * server answers its files and config.json on paths no route takes (with a Content-Security-Policy that
 * names only the API and the upload endpoint), API routes still reach their handler, and every other path
 * is still the gateway's 404 JSON. The bundle itself names no host to call.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiServer, type HttpHandler, loadStaticSite } from "../../scripts/local/http-adapter";
import { ROUTES } from "../../shared/routes";
import { buildWeb } from "../../web/build";

let dir: string;
let base: string;
let close: () => Promise<void>;
const UPLOAD_ENDPOINT = "http://127.0.0.1:45678";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "web-build-"));
  await buildWeb(dir);
  const site = await loadStaticSite(dir, { apiUrl: "" }, [UPLOAD_ENDPOINT]);
  const answer: HttpHandler = async (event) => ({
    statusCode: 200,
    body: JSON.stringify({ route: event.routeKey }),
  });
  const handlers = Object.fromEntries([...new Set(ROUTES.map((r) => r.fn))].map((fn) => [fn, answer]));
  const server = createApiServer(handlers as Parameters<typeof createApiServer>[0], {
    authorizer: { jwks: { keys: [] }, verify: async () => undefined },
    site,
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((ok) => server.close(() => ok()));
});

afterAll(async () => {
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

describe("the dashboard's static site", () => {
  it("is built complete: page, script and styles, the page loading only the other two", async () => {
    const files = await readdir(dir);
    expect(files).toEqual(expect.arrayContaining(["index.html", "app.js", "styles.css"]));
    const html = await readFile(join(dir, "index.html"), "utf8");
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    // Its icon is inline (`data:`), so the page asks for nothing but its script and styles.
    expect(references.filter((r) => !r?.startsWith("data:")).sort()).toEqual(["app.js", "styles.css"]);
  });

  it("names no host in its script but the SVG namespace", async () => {
    const script = await readFile(join(dir, "app.js"), "utf8");
    const hosts = new Set([...script.matchAll(/https?:\/\/([a-z0-9.-]+)/gi)].map((m) => m[1]));
    expect([...hosts]).toEqual(["www.w3.org"]);
    expect(script).toContain("http://www.w3.org/2000/svg");
  });

  it("serves the page, its files and config.json, with a policy that allows only the API and the upload endpoint", async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toBe(await readFile(join(dir, "index.html"), "utf8"));
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`connect-src 'self' ${UPLOAD_ENDPOINT};`);
    const script = await fetch(`${base}/app.js`);
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(Buffer.from(await script.arrayBuffer()).equals(await readFile(join(dir, "app.js")))).toBe(true);
    expect(await (await fetch(`${base}/config.json`)).json()).toEqual({ apiUrl: "" });
    const head = await fetch(`${base}/styles.css`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("keeps API routes and the 404 JSON of every other path", async () => {
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ route: "GET /health" });
    expect((await fetch(`${base}/datasets`)).status).toBe(401);
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/datasets/x/nope"],
      ["POST", "/"],
      ["DELETE", "/app.js"],
      ["GET", "/../package.json"],
      ["GET", "/web/build.ts"],
    ] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual({ message: "Not Found" });
    }
  });
});
