import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  parseAddHost,
  parseResolvConf,
  renderHosts,
  renderResolvConf,
  writeContainerFiles,
} from "./container-files.ts";

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

test("rewriting the files keeps their inodes, so existing bind mounts see the new content", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-files-"));
  try {
    const first = writeContainerFiles(dir, {
      hosts: "a long first version\n",
      hostname: "h\n",
      resolvConf: "x\n",
    });
    const inode = statSync(first.hosts).ino;
    writeContainerFiles(dir, { hosts: "short\n", hostname: "h\n", resolvConf: "y\n" });
    assert.equal(statSync(first.hosts).ino, inode);
    assert.equal(readFileSync(first.hosts, "utf8"), "short\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
