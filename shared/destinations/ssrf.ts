/**
 * The guard between a webhook URL and the network: a URL is sent to only if every address its host
 * resolves to is a public unicast address, and the connection is then made to the vetted address itself
 * (the host name is not resolved a second time, so a DNS answer that changes between check and connect
 * cannot redirect the request). It runs when a destination is created or changed and before every delivery.
 *
 * Refused: unspecified, loopback, private (10/8, 172.16/12, 192.168/16), carrier-grade NAT (100.64/10),
 * link-local (169.254/16, where the instance metadata service lives, and fe80::/10), unique local
 * (fc00::/7), multicast, broadcast and reserved ranges, documentation and benchmark ranges, and IPv6
 * addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) when the embedded
 * address is refused. HTTPS only, unless loopback webhooks are allowed (the local service sets
 * ALLOW_LOOPBACK_WEBHOOKS=true so tests can run a receiver on 127.0.0.1): then http and loopback pass.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address (the DNS resolver, injected in tests). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const all = await dnsLookup(host, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export interface UrlPolicy {
  /** http and loopback addresses allowed: the local service only. */
  allowLoopback: boolean;
}

export class UnsafeUrlError extends Error {
  override readonly name = "UnsafeUrlError";
  constructor(
    readonly code: "URL_INVALID" | "URL_SCHEME" | "URL_UNRESOLVED" | "URL_FORBIDDEN_ADDRESS",
    message: string,
  ) {
    super(message);
  }
}

const V4: ReadonlyArray<[string, number, string]> = [
  ["0.0.0.0", 8, "unspecified"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "reserved"],
  ["192.0.2.0", 24, "documentation"],
  ["192.88.99.0", 24, "reserved"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
];

const V6: ReadonlyArray<[string, number, string]> = [
  ["::", 128, "unspecified"],
  ["::1", 128, "loopback"],
  ["100::", 64, "discard"],
  ["2001:db8::", 32, "documentation"],
  ["fc00::", 7, "unique local"],
  ["fe80::", 10, "link-local"],
  ["fec0::", 10, "site-local"],
  ["ff00::", 8, "multicast"],
];

const blocked4 = new Map<string, BlockList>();
for (const [net, prefix, reason] of V4) {
  const list = blocked4.get(reason) ?? new BlockList();
  list.addSubnet(net, prefix, "ipv4");
  blocked4.set(reason, list);
}
const blocked6 = new Map<string, BlockList>();
for (const [net, prefix, reason] of V6) {
  const list = blocked6.get(reason) ?? new BlockList();
  list.addSubnet(net, prefix, "ipv6");
  blocked6.set(reason, list);
}

/** The 16 bytes of an IPv6 address (with or without an embedded dotted IPv4 tail). */
function ipv6Bytes(address: string): number[] {
  let text = address.split("%")[0] ?? address;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail?.[1]) {
    const parts = tail[1].split(".").map(Number);
    const hi = (((parts[0] ?? 0) << 8) | (parts[1] ?? 0)).toString(16);
    const lo = (((parts[2] ?? 0) << 8) | (parts[3] ?? 0)).toString(16);
    text = `${text.slice(0, tail.index)}${hi}:${lo}`;
  }
  const [head = "", rest] = text.split("::");
  const h = head === "" ? [] : head.split(":");
  const r = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill("0"), ...r];
  const bytes: number[] = [];
  for (const g of groups) {
    const v = Number.parseInt(g, 16);
    bytes.push((v >> 8) & 0xff, v & 0xff);
  }
  return bytes;
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64 or 6to4), if any. */
function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join(".");
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 12) && !zero(12, 16)) return v4(12); // ::a.b.c.d (deprecated compatible form)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // 64:ff9b::/96
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002::/16
  return undefined;
}

/** Why an address may not be sent to ("loopback", "private", …), or undefined for a public address. */
export function forbiddenReason(address: string): string | undefined {
  const family = isIP(address.split("%")[0] ?? "");
  if (family === 4) {
    if (address === "255.255.255.255") return "broadcast";
    for (const [reason, list] of blocked4) if (list.check(address, "ipv4")) return reason;
    return undefined;
  }
  if (family === 6) {
    const bare = address.split("%")[0] ?? address;
    for (const [reason, list] of blocked6) if (list.check(bare, "ipv6")) return reason;
    const inner = embeddedIpv4(bare);
    if (inner !== undefined) {
      const reason = forbiddenReason(inner);
      return reason === undefined ? undefined : `${reason} (IPv4 in IPv6)`;
    }
    return undefined;
  }
  return "not an IP address";
}

function loopback(address: string): boolean {
  const reason = forbiddenReason(address);
  return reason === "loopback" || reason === "loopback (IPv4 in IPv6)";
}

export interface VettedUrl {
  url: URL;
  /** The address the request connects to; the host name is kept for TLS and the Host header. */
  address: ResolvedAddress;
}

/**
 * Checks a webhook URL and resolves its host: every address must pass, and the first is the one to
 * connect to. Throws UnsafeUrlError with a code and a message that names the reason, never the address.
 */
export async function vetUrl(raw: string, policy: UrlPolicy, resolve: Resolver): Promise<VettedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeUrlError("URL_INVALID", "The URL is not an absolute URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw new UnsafeUrlError("URL_INVALID", "The URL may not carry credentials");
  }
  const schemes = policy.allowLoopback ? ["https:", "http:"] : ["https:"];
  if (!schemes.includes(url.protocol)) {
    throw new UnsafeUrlError(
      "URL_SCHEME",
      `The URL must use ${policy.allowLoopback ? "http or https" : "https"}`,
    );
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (literal !== 0) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new UnsafeUrlError("URL_UNRESOLVED", "The URL's host does not resolve");
    }
  }
  if (addresses.length === 0) throw new UnsafeUrlError("URL_UNRESOLVED", "The URL's host does not resolve");
  for (const a of addresses) {
    const reason = forbiddenReason(a.address);
    if (reason === undefined) continue;
    if (policy.allowLoopback && loopback(a.address)) continue;
    throw new UnsafeUrlError("URL_FORBIDDEN_ADDRESS", `The URL's host resolves to a ${reason} address`);
  }
  const first = addresses[0] as ResolvedAddress;
  return { url, address: first };
}
