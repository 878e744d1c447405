import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendWebhook } from "../../../shared/destinations/send";
import { forbiddenReason, type Resolver, UnsafeUrlError, vetUrl } from "../../../shared/destinations/ssrf";

const table: Array<[string, string | undefined]> = [
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.254", "private"],
  ["172.32.0.1", undefined],
  ["192.168.1.1", "private"],
  ["127.0.0.1", "loopback"],
  ["127.10.20.30", "loopback"],
  ["::1", "loopback"],
  ["169.254.169.254", "link-local"],
  ["fe80::1", "link-local"],
  ["fe80::abcd:1%eth0", "link-local"],
  ["fc00::1", "unique local"],
  ["fd12:3456::1", "unique local"],
  ["::ffff:10.0.0.1", "private (IPv4 in IPv6)"],
  ["::ffff:a00:1", "private (IPv4 in IPv6)"],
  ["::ffff:169.254.169.254", "link-local (IPv4 in IPv6)"],
  ["::ffff:127.0.0.1", "loopback (IPv4 in IPv6)"],
  ["64:ff9b::a9fe:a9fe", "link-local (IPv4 in IPv6)"],
  ["2002:c0a8:101::1", "private (IPv4 in IPv6)"],
  ["100.64.0.1", "carrier-grade NAT"],
  ["100.127.255.255", "carrier-grade NAT"],
  ["100.128.0.1", undefined],
  ["0.0.0.0", "unspecified"],
  ["::", "unspecified"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["ff02::1", "multicast"],
  ["255.255.255.255", "broadcast"],
  ["240.0.0.1", "reserved"],
  ["93.184.215.14", undefined],
  ["8.8.8.8", undefined],
  ["2606:4700:4700::1111", undefined],
  ["::ffff:8.8.8.8", undefined],
  ["example.com", "not an IP address"],
];

describe("forbiddenReason", () => {
  it.each(table)("%s → %s", (address, reason) => {
    expect(forbiddenReason(address)).toBe(reason);
  });
});

function resolver(answers: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string) => {
    calls.push(host);
    const list = answers[host];
    if (!list) throw new Error("ENOTFOUND");
    return list.map((address) => ({ address, family: address.includes(":") ? (6 as const) : (4 as const) }));
  };
  return Object.assign(fn, { calls });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return error instanceof UnsafeUrlError ? error.code : "other";
  }
}

describe("vetUrl", () => {
  const aws = { allowLoopback: false };
  const local = { allowLoopback: true };
  const dns = resolver({
    "hooks.example.com": ["93.184.215.14"],
    "metadata.example.com": ["169.254.169.254"],
    "mixed.example.com": ["93.184.215.14", "10.1.2.3"],
    "mapped.example.com": ["::ffff:192.168.0.10"],
    "localhost.example.com": ["127.0.0.1"],
  });

  it("accepts an https URL whose host resolves to public addresses, and names the address to connect to", async () => {
    const vetted = await vetUrl("https://hooks.example.com/in?x=1", aws, dns);
    expect(vetted.address).toEqual({ address: "93.184.215.14", family: 4 });
    expect(vetted.url.hostname).toBe("hooks.example.com");
  });

  it("refuses hosts that resolve to a forbidden address, even one among public ones", async () => {
    expect(await codeOf(vetUrl("https://metadata.example.com/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("https://mixed.example.com/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("https://mapped.example.com/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("https://localhost.example.com/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
  });

  it("refuses literal forbidden addresses without asking DNS", async () => {
    const before = dns.calls.length;
    expect(await codeOf(vetUrl("https://169.254.169.254/latest/meta-data/", aws, dns))).toBe(
      "URL_FORBIDDEN_ADDRESS",
    );
    expect(await codeOf(vetUrl("https://[::ffff:10.0.0.1]/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("https://[fe80::1]/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("https://0x7f.1/", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(dns.calls.length).toBe(before);
  });

  it("refuses http in AWS, other schemes, credentials, junk and hosts that do not resolve", async () => {
    expect(await codeOf(vetUrl("http://hooks.example.com/", aws, dns))).toBe("URL_SCHEME");
    expect(await codeOf(vetUrl("ftp://hooks.example.com/", local, dns))).toBe("URL_SCHEME");
    expect(await codeOf(vetUrl("https://u:p@hooks.example.com/", aws, dns))).toBe("URL_INVALID");
    expect(await codeOf(vetUrl("not a url", aws, dns))).toBe("URL_INVALID");
    expect(await codeOf(vetUrl("https://nowhere.example.com/", aws, dns))).toBe("URL_UNRESOLVED");
  });

  it("allows http and loopback only when loopback webhooks are allowed, and still refuses the rest", async () => {
    expect((await vetUrl("http://127.0.0.1:9/x", local, dns)).address.address).toBe("127.0.0.1");
    expect((await vetUrl("http://[::1]:9/x", local, dns)).address.address).toBe("::1");
    expect(await codeOf(vetUrl("http://127.0.0.1:9/x", aws, dns))).toBe("URL_SCHEME");
    expect(await codeOf(vetUrl("https://127.0.0.1:9/x", aws, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("http://169.254.169.254/", local, dns))).toBe("URL_FORBIDDEN_ADDRESS");
    expect(await codeOf(vetUrl("http://10.0.0.1/", local, dns))).toBe("URL_FORBIDDEN_ADDRESS");
  });
});

describe("sendWebhook", () => {
  let server: http.Server;
  let port = 0;
  const seen: Array<{ host?: string; body: string; id?: string }> = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        seen.push({ host: req.headers.host, body, id: req.headers["webhook-id"] as string });
        res.statusCode = req.url === "/fail" ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("connects to the vetted address, never resolving the host name again (no DNS rebinding)", async () => {
    // The name does not exist in DNS: the request can only arrive through the vetted address.
    const rebinding = resolver({ "rebind.invalid": ["127.0.0.1"] });
    const vetted = await vetUrl(`http://rebind.invalid:${port}/hook`, { allowLoopback: true }, rebinding);
    const result = await sendWebhook(vetted, { "webhook-id": "msg_1" }, '{"a":1}', 5000);
    expect(result.statusCode).toBe(204);
    expect(rebinding.calls).toEqual(["rebind.invalid"]);
    expect(seen.at(-1)).toEqual({ host: `rebind.invalid:${port}`, body: '{"a":1}', id: "msg_1" });
  });

  it("answers the receiver's status code", async () => {
    const vetted = await vetUrl(`http://127.0.0.1:${port}/fail`, { allowLoopback: true }, resolver({}));
    expect((await sendWebhook(vetted, {}, "{}", 5000)).statusCode).toBe(503);
  });
});
