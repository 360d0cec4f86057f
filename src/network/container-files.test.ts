import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAddHost, parseResolvConf, renderHosts, renderResolvConf } from "./container-files.ts";

test("hosts and resolv.conf render Docker's layout", () => {
  const hosts = renderHosts({
    hostname: "web",
    addresses: ["10.231.1.2"],
    extraHosts: [parseAddHost("db:10.231.9.9")],
  });
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost\n/);
  assert.match(hosts, /10\.231\.9\.9\tdb\n10\.231\.1\.2\tweb\n$/);
  const r = renderResolvConf({ nameservers: ["10.231.1.1"], search: ["a.example"], options: ["ndots:0"] });
  assert.deepEqual(parseResolvConf(r), {
    nameservers: ["10.231.1.1"],
    search: ["a.example"],
    options: ["ndots:0"],
  });
  assert.throws(() => parseAddHost("nocolon"), /invalid --add-host/);
  assert.throws(() => parseAddHost("db:not-an-ip"), /invalid address/);
  assert.equal(parseAddHost("gw:host-gateway", "10.231.1.1").address, "10.231.1.1");
});
