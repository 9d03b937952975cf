/**
 * Who a request comes from, for the rate limit (docs/adr/0029-a-hardened-edge.md): the peer
 * address of its connection, unless that peer is a proxy the operator trusts; then the
 * `X-Forwarded-For` list is read from the right, skipping trusted proxies, and the first address
 * that is not one is the client (the only entry a trusted proxy vouches for is the one it
 * appended; everything to its left may be made up by the client). Without trusted proxies the
 * header is ignored, so a client cannot choose its own bucket.
 *
 * Keys are normalised: an IPv4-mapped IPv6 address is its IPv4 address, and an IPv6 client is
 * its /64 network, because one subscriber usually holds a whole /64 and could otherwise take a
 * fresh bucket per address.
 *
 * Addresses are parsed with Hono's `hono/utils/ipaddr` (the helpers of its ip-restriction
 * middleware); the CIDR match is the same few lines as that middleware's.
 */
import {
  convertIPv4MappedIPv6ToIPv4,
  convertIPv4ToBinary,
  convertIPv6BinaryToString,
  convertIPv6ToBinary,
  distinctRemoteAddr,
  isIPv4MappedIPv6,
} from "hono/utils/ipaddr";

/** The rate limit's key of a request: its peer address and its `X-Forwarded-For` header. */
export type ClientKey = (remoteAddress: string | undefined, forwardedFor: string | null) => string;

/** An IPv4 address without leading zeros, as sockets report peers. */
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The key of requests whose peer address is unknown (a fetch handler called without one). */
export const UNKNOWN_CLIENT = "unknown";

interface Address {
  readonly v4: boolean;
  /** 32 bits for IPv4 (mapped IPv6 addresses included), 128 for IPv6. */
  readonly bits: bigint;
}

/**
 * `trustedProxies`: addresses or CIDR blocks (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`) of the
 * proxies in front of the gateway. Throws an Error naming an entry that is neither.
 */
export function createClientKey(trustedProxies: readonly string[]): ClientKey {
  const trusted = trustedProxies.map(parseBlock);
  const isTrusted = (address: Address) =>
    trusted.some((block) => block.v4 === address.v4 && (address.bits & block.mask) === block.bits);
  return (remoteAddress, forwardedFor) => {
    // The common case, on every request: a peer's IPv4 address as the OS reports it is its key.
    if (trusted.length === 0 && remoteAddress !== undefined && DOTTED_QUAD.test(remoteAddress))
      return remoteAddress;
    const peer = remoteAddress === undefined ? undefined : parseAddress(remoteAddress);
    if (peer === undefined) return remoteAddress ?? UNKNOWN_CLIENT;
    if (trusted.length === 0 || forwardedFor === null || !isTrusted(peer)) return keyOf(peer);
    let client = peer;
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseAddress((hops[i] as string).trim());
      // Not an address: the proxy that passed it on is the last one known.
      if (hop === undefined) break;
      client = hop;
      if (!isTrusted(hop)) break;
    }
    return keyOf(client);
  };
}

function parseAddress(text: string): Address | undefined {
  try {
    const kind = distinctRemoteAddr(text);
    if (kind === "IPv4") return { v4: true, bits: convertIPv4ToBinary(text) };
    if (kind !== "IPv6") return undefined;
    const bits = convertIPv6ToBinary(text);
    return isIPv4MappedIPv6(bits)
      ? { v4: true, bits: convertIPv4MappedIPv6ToIPv4(bits) }
      : { v4: false, bits };
  } catch {
    return undefined;
  }
}

function parseBlock(entry: string): Address & { readonly mask: bigint } {
  const [text = "", prefixText, ...rest] = entry.trim().split("/");
  const address = parseAddress(text);
  const width = address?.v4 ? 32 : 128;
  // An IPv4-mapped block (::ffff:10.0.0.0/104) is the IPv4 block it maps.
  const prefix =
    prefixText === undefined ? width : Number(prefixText) - (address?.v4 && text.includes(":") ? 96 : 0);
  if (address === undefined || rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > width) {
    throw new Error(`trusted proxy "${entry}" is not an IP address or a CIDR block (10.0.0.0/8, fd00::/8)`);
  }
  const all = (1n << BigInt(width)) - 1n;
  const mask = (all << BigInt(width - prefix)) & all;
  return { ...address, bits: address.bits & mask, mask };
}

const LOW_64 = (1n << 64n) - 1n;

function keyOf(address: Address): string {
  if (address.v4) {
    const b = address.bits;
    return `${(b >> 24n) & 255n}.${(b >> 16n) & 255n}.${(b >> 8n) & 255n}.${b & 255n}`;
  }
  return `${convertIPv6BinaryToString(address.bits & ~LOW_64)}/64`;
}
