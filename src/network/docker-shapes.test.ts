import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../common/errors.ts";
import { fromDockerNetworkCreate } from "./docker-shapes.ts";

test("the docker CLI's network create body maps onto create options", () => {
  const body = {
    Name: "n1",
    Driver: "bridge",
    Scope: "",
    IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.99.0.0/24", Gateway: "10.99.0.1" }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigOnly: false,
    ConfigFrom: null,
    Options: {},
    Labels: { a: "b" },
  };
  assert.deepEqual(fromDockerNetworkCreate(body), {
    name: "n1",
    driver: "bridge",
    subnet: "10.99.0.0/24",
    gateway: "10.99.0.1",
    ipRange: undefined,
    internal: false,
    labels: { a: "b" },
    options: {},
  });
  const unsupported = (e: unknown) => e instanceof GantryError && e.code === "UNSUPPORTED_OPTION";
  assert.throws(() => fromDockerNetworkCreate({ ...body, EnableIPv6: true }), unsupported);
  // An IPv6 subnet needs EnableIPv6 (and the other way round: Gantry has no default IPv6 pool).
  assert.throws(() => fromDockerNetworkCreate({ ...body, IPAM: { Config: [{ Subnet: "fd00::/64" }] } }), /needs EnableIPv6/);
  const v6 = fromDockerNetworkCreate({ ...body, EnableIPv6: true, IPAM: { Config: [{ Subnet: "10.99.0.0/24" }, { Subnet: "fd00:1::/64", Gateway: "fd00:1::fe" }] } });
  assert.deepEqual([v6.subnet, v6.subnet6, v6.gateway6], ["10.99.0.0/24", "fd00:1::/64", "fd00:1::fe"]);
  assert.throws(() => fromDockerNetworkCreate({ ...body, EnableIPv6: true, IPAM: { Config: [{ Subnet: "fd00:1::/64" }, { Subnet: "fd00:2::/64" }] } }), unsupported);
  assert.throws(() => fromDockerNetworkCreate({ ...body, IPAM: { Config: [{}, {}] } }), unsupported);
  // AuxiliaryAddresses (IPv4, with a subnet) reach the library.
  const aux = { ...body, IPAM: { Config: [{ Subnet: "10.99.0.0/24", AuxiliaryAddresses: { r: "10.99.0.5" } }] } };
  assert.deepEqual(fromDockerNetworkCreate(aux).auxAddresses, { r: "10.99.0.5" });
  assert.throws(() => fromDockerNetworkCreate({ ...body, IPAM: { Config: [{ Subnet: "10.99.0.0/24", AuxiliaryAddresses: { r: "fd00::5" } }] } }), unsupported);
  assert.throws(() => fromDockerNetworkCreate({ ...body, IPAM: { Config: [{ AuxiliaryAddresses: { r: "10.99.0.5" } }] } }), /need a subnet/);
  assert.throws(() => fromDockerNetworkCreate({ ...body, Name: "" }), /Name is required/);
});
