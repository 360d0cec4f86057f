import { test } from "node:test";
import assert from "node:assert/strict";
import { firstHost6, formatIpv6, formatSubnet6, parseIpv6, parseSubnet6, subnet6Contains, subnets6Overlap } from "./subnet6.ts";

test("IPv6 addresses parse and print in RFC 5952's short form", () => {
  for (const [text, short] of [
    ["fd00:97::2", "fd00:97::2"],
    ["FD00:0097:0000:0000:0000:0000:0000:0001", "fd00:97::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
  ] as const) {
    assert.equal(formatIpv6(parseIpv6(text)), short, text);
  }
  assert.throws(() => parseIpv6("10.0.0.1"), /invalid IPv6 address/);
  assert.throws(() => parseIpv6("fd00::1::2"), /invalid IPv6 address/);
});

test("IPv6 subnets: host bits, prefix bounds, membership, overlap, default gateway", () => {
  const s = parseSubnet6("fd00:97::/64");
  assert.equal(formatSubnet6(s), "fd00:97::/64");
  assert.equal(formatIpv6(firstHost6(s)), "fd00:97::1");
  assert.ok(subnet6Contains(s, parseIpv6("fd00:97::ffff")));
  assert.ok(!subnet6Contains(s, parseIpv6("fd00:98::1")));
  assert.ok(subnets6Overlap(s, parseSubnet6("fd00:97::/112")));
  assert.ok(!subnets6Overlap(s, parseSubnet6("fd00:98::/64")));
  assert.throws(() => parseSubnet6("fd00:97::1/64"), /host bits/);
  assert.throws(() => parseSubnet6("fd00::/32"), /between \/48 and \/120/);
});
