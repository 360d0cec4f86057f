import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSubnet, parseSubnet, subnetsOverlap, parseIpv4, routeDestination } from "./subnet.ts";

test("subnets parse, refuse host bits and overlap arithmetically", () => {
  assert.equal(formatSubnet(parseSubnet("10.231.1.0/24")), "10.231.1.0/24");
  assert.throws(() => parseSubnet("10.231.1.5/24"), /host bits are set.*/);
  assert.throws(() => parseSubnet("10.231.1.0"), /invalid subnet/);
  assert.throws(() => parseSubnet("300.1.1.0/24"), /invalid subnet address/);
  assert.ok(subnetsOverlap(parseSubnet("10.231.0.0/16"), parseSubnet("10.231.5.0/24")));
  assert.ok(!subnetsOverlap(parseSubnet("10.231.4.0/24"), parseSubnet("10.231.5.0/24")));
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  assert.equal(routeDestination("default"), undefined);
  assert.deepEqual(routeDestination("192.0.2.0/24"), parseSubnet("192.0.2.0/24"));
});
