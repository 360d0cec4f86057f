// Plan decisions made for OCI runtime-tools conformance (docs/CONFORMANCE.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { OciConfig } from "../spec/oci.ts";
import { MS } from "./linux-constants.ts";
import { planCreate, type CreatePlanOptions } from "./plan.ts";
import type { PlanRecord } from "./wire.ts";

const options: CreatePlanOptions = {
  mode: "detach",
  rootfs: "/bundle/rootfs",
  startSocket: "/run/x/start.sock",
  terminal: "none",
  cgroupProcsFiles: [],
  cgroupMounts: { version: 1, hierarchies: {} },
  hookState: "{}",
  capLastCap: 40,
  isDirectory: () => true,
};

function config(edit: (c: OciConfig) => void = () => {}): OciConfig {
  const c: OciConfig = {
    ociVersion: "1.2.0",
    root: { path: "rootfs" },
    process: { cwd: "/", args: ["sh"], user: { uid: 0, gid: 0 }, env: [] },
    linux: { namespaces: [{ type: "mount" }, { type: "pid" }] },
  } as OciConfig;
  edit(c);
  return c;
}

const ops = (steps: PlanRecord[]) => steps.map((s) => s[0]);
const childOps = (steps: PlanRecord[]) => ops(steps).slice(ops(steps).indexOf("child"));

test("a new user namespace with a root mapping: the child becomes its root before any mount", () => {
  const steps = planCreate(
    config((c) => {
      c.linux!.namespaces!.push({ type: "user" });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1000 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1000 }];
    }),
    options,
  );
  const child = steps.slice(steps.findIndex((s) => s[0] === "child"));
  assert.deepEqual(child[1], ["user", "0", "0", ""]);
  assert.ok(child.findIndex((s) => s[0] === "mount") > 1);
});

test("no early user step without a user namespace, or when the maps give no root", () => {
  assert.deepEqual(childOps(planCreate(config(), options)).filter((o) => o === "user").length, 1);
  const steps = planCreate(
    config((c) => {
      c.linux!.namespaces!.push({ type: "user" });
      c.linux!.uidMappings = [{ containerID: 1, hostID: 1000, size: 10 }];
      c.linux!.gidMappings = [{ containerID: 1, hostID: 1000, size: 10 }];
    }),
    options,
  );
  assert.equal(childOps(steps).filter((o) => o === "user").length, 1);
});

test("a hostname is allowed with a uts namespace joined by path", () => {
  const steps = planCreate(
    config((c) => {
      c.hostname = "joined";
      c.linux!.namespaces!.push({ type: "uts", path: "/proc/1/ns/uts" });
    }),
    options,
  );
  assert.deepEqual(
    steps.find((s) => s[0] === "hostname"),
    ["hostname", "joined"],
  );
  assert.throws(
    () =>
      planCreate(
        config((c) => (c.hostname = "none")),
        options,
      ),
    /needs a new uts namespace/,
  );
});

test("unbindable and shared root propagation: slave while binding the rootfs, the asked mode after pivot_root", () => {
  for (const [prop, flag] of [
    ["unbindable", MS.UNBINDABLE],
    ["rshared", MS.SHARED | MS.REC],
  ] as const) {
    const steps = planCreate(
      config((c) => (c.linux!.rootfsPropagation = prop)),
      options,
    );
    const rootMounts = steps.filter((s) => s[0] === "mount" && s[2] === "/");
    const pivot = steps.findIndex((s) => s[0] === "pivot-root");
    assert.equal(rootMounts[0]![4], String(MS.SLAVE | MS.REC), prop);
    assert.equal(rootMounts[1]![4], String(flag), prop);
    assert.ok(steps.indexOf(rootMounts[1]!) > pivot, prop);
  }
  const priv = planCreate(
    config((c) => (c.linux!.rootfsPropagation = "private")),
    options,
  );
  assert.deepEqual(
    priv.filter((s) => s[0] === "mount" && s[2] === "/").map((s) => s[4]),
    [String(MS.PRIVATE)],
  );
});

test("seccomp without no_new_privs loads before the user switch; with it, after wait-start", () => {
  const seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  const first = (o: string[], prefix: string) => o.findIndex((x) => x.startsWith(prefix));
  const plain = childOps(
    planCreate(
      config((c) => ((c.linux!.seccomp = seccomp), (c.process!.user = { uid: 10, gid: 10 }))),
      options,
    ),
  );
  assert.ok(first(plain, "seccomp-") < plain.indexOf("user"));
  assert.ok(plain.indexOf("user") < plain.indexOf("caps"));
  const nnp = childOps(
    planCreate(
      config((c) => ((c.linux!.seccomp = seccomp), (c.process!.noNewPrivileges = true))),
      options,
    ),
  );
  assert.ok(first(nnp, "seccomp-") > nnp.indexOf("wait-start"));
});

test("no process (allowed at create): the child waits for start and then ends without an exec", () => {
  const steps = planCreate(
    config((c) => delete c.process),
    options,
  );
  const child = childOps(steps);
  assert.deepEqual(child.slice(-2), ["wait-start", "end"]);
  for (const op of ["user", "caps", "argv", "lookup", "exec"]) assert.equal(child.includes(op), false, op);
});
