#!/usr/bin/env node
// The helper's wire, defined once: the plan's operations and the messages its processes send
// (to each other over the sync socket, and to TypeScript as reports). These tables generate
// the TypeScript step and message types (src/runtime/plan/plan-ops.ts, which planCreate/
// planExec build and helper.ts reads) and the C tables the helper checks every plan and every
// message against before it acts on one (native/src/plan-ops.{h,c}: the op and message enums
// that child.c, monitor.c and security.c switch on, the field positions, the values of each
// enumerated field, and one typed sender per message, so a message with the wrong field
// count does not compile). The generated files are committed; `npm run lint` runs this with
// --check and fails when they are stale (test/tooling/gen-wire.test.ts checks that it does).
//
// Usage: node scripts/gen-wire.mjs [--check]
//
// Field types: "str" (any bytes), "u64" (a decimal number without leading zeros, or 0x and
// lower-case hex; at most 2^64-1), or a list of allowed strings. `rest` is a variadic tail of
// one type (`group`: its length must be a multiple of that). `section` is where the step may
// stand: "monitor" (before the "child" marker: the monitor does it, outside the container),
// "child" (after it: the container's process does it), or "any".
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const u64 = "u64";
const str = "str";

/** @type {{op: string, section: "monitor"|"child"|"any", fields: [string, string|string[]][], rest?: [string, string], group?: number, doc: string}[]} */
export const PLAN_OPS = [
  // ---- the monitor's section ----
  { op: "mode", section: "monitor", fields: [["mode", ["detach", "foreground", "monitor"]]], doc: "how long the monitor stays: until the child waits for start, until it exits, or as the container's monitor" },
  { op: "exit-file", section: "monitor", fields: [["path", str], ["sync", ["fsync", "no-fsync"]]], doc: "where the monitor writes the exit status (write, fsync unless no-fsync, then rename)" },
  { op: "host-mount", section: "monitor", fields: [["source", str], ["target", str], ["type", str], ["flags", u64], ["data", str], ["cwd", str], ["unmount", ["unmount-on-exit", ""]]], doc: "a mount in the caller's namespace before the container's exists (an overlay rootfs)" },
  { op: "idmapped-overlay", section: "monitor", fields: [["target", str], ["upperdir", str], ["workdir", str], ["uidMap", str], ["gidMap", str], ["unmount", ["unmount-on-exit", ""]]], rest: ["lowerdirs", str], doc: "an overlay whose lower dirs (top first) are idmapped mounts shifted by these uid_map/gid_map lines (user namespaces: shared image layers, remapped owners)" },
  { op: "log", section: "monitor", fields: [["path", str], ["maxSize", u64], ["maxFiles", u64]], doc: "monitor mode: the json-file log and its rotation" },
  { op: "attach-socket", section: "monitor", fields: [["path", str]], doc: "monitor mode: the unix socket clients attach through" },
  { op: "stdio", section: "monitor", fields: [["kind", ["pipes"]], ["stdin", ["open", "closed"]]], doc: "monitor mode: the container's stdio are pipes the monitor owns" },
  { op: "start-socket", section: "monitor", fields: [["path", str]], doc: "the socket `start` connects to; the child waits for it" },
  { op: "console-socket", section: "monitor", fields: [["path", str]], doc: "where the pty master goes (runc's --console-socket)" },
  { op: "bpf-device-filter", section: "monitor", fields: [["cgroupDir", str], ["program", str], ["license", str]], doc: "cgroup v2 device rules: a BPF program (hex) attached to the cgroup" },
  { op: "setns", section: "monitor", fields: [["path", str], ["flags", u64]], doc: "a namespace to join (a joiner enters it before cloning the child)" },
  { op: "clone", section: "monitor", fields: [["flags", u64]], doc: "create the child with these CLONE_NEW* flags" },
  { op: "clone-into-cgroup", section: "monitor", fields: [["dir", str]], doc: "a cgroup v2 directory the child is created in (clone3 with CLONE_INTO_CGROUP: no migration, so not the kernel's global cgroup attach lock); without clone3 there, the monitor writes the child's pid to its cgroup.procs" },
  { op: "join-cgroup", section: "monitor", fields: [["path", str]], doc: "a cgroup v1 tasks file the monitor opens before the clone and the child writes \"0\" to first (a thread moving itself does not take the kernel's global cgroup attach lock, whose first writer after a quiet spell waits an RCU grace period)" },
  { op: "write-after-clone", section: "monitor", fields: [["path", str], ["data", str]], doc: "written by the monitor once the child exists ($PID: its pid): uid/gid maps, cgroup.procs" },
  { op: "hook", section: "any", fields: [["phase", ["runtime", "container"]], ["timeout", u64], ["state", str], ["path", str], ["argc", u64]], rest: ["argsThenEnv", str], doc: "an OCI hook: argc arguments, then the environment" },
  { op: "child", section: "monitor", fields: [], doc: "the end of the monitor's section: what follows runs in the child" },
  // ---- the child's section ----
  { op: "user", section: "child", fields: [["uid", u64], ["gid", u64], ["groups", str]], doc: "setgroups (comma-separated), setgid, setuid" },
  { op: "unshare", section: "child", fields: [["flags", u64]], doc: "unshare(2): the cgroup namespace, once the child is in its cgroup" },
  { op: "setsid", section: "child", fields: [], doc: "a session of its own" },
  { op: "loopback-up", section: "child", fields: [], doc: "set lo up in the network namespace the child was created with (runc and crun do the same)" },
  { op: "write", section: "child", fields: [["path", str], ["data", str]], doc: "write a file (oom_score_adj)" },
  { op: "sysctl", section: "child", fields: [["key", str], ["value", str]], doc: "write /proc/sys/KEY (dots become slashes)" },
  { op: "rootfs", section: "child", fields: [["path", str]], doc: "the root filesystem, opened for in-root path resolution" },
  { op: "mount", section: "child", fields: [["source", str], ["target", str], ["type", str], ["flags", u64], ["data", str], ["create", ["dir", "file", "none"]], ["where", ["root", "abs"]]], doc: "mount(2), the target resolved in the rootfs (root) or as given (abs), created first as a dir or file" },
  { op: "mknod", section: "child", fields: [["path", str], ["type", ["c", "b", "p"]], ["major", u64], ["minor", u64], ["mode", u64], ["uid", u64], ["gid", u64]], doc: "a device node in the rootfs" },
  { op: "bind-dev", section: "child", fields: [["source", str], ["target", str]], doc: "bind the host's device node (in a user namespace, where mknod is refused)" },
  { op: "symlink", section: "child", fields: [["target", str], ["link", str]], doc: "a symlink in the rootfs (/dev/fd and friends)" },
  { op: "pivot-root", section: "child", fields: [["path", str]], doc: "pivot_root into the rootfs and detach the old root" },
  { op: "chroot", section: "child", fields: [["path", str]], doc: "chroot instead (no mount namespace, or --no-pivot)" },
  { op: "mask", section: "child", fields: [["path", str]], doc: "hide a path (linux.maskedPaths)" },
  { op: "readonly", section: "child", fields: [["path", str]], doc: "remount a path read-only (linux.readonlyPaths)" },
  { op: "remount", section: "child", fields: [["path", str], ["flags", u64]], doc: "remount with these flags (a read-only root)" },
  { op: "console", section: "child", fields: [["mode", ["socket", "monitor"]], ["rows", u64], ["cols", u64]], doc: "make the pty and send its master to the console socket or the monitor" },
  { op: "hostname", section: "child", fields: [["name", str]], doc: "sethostname" },
  { op: "domainname", section: "child", fields: [["name", str]], doc: "setdomainname" },
  { op: "rlimit", section: "child", fields: [["resource", u64], ["soft", u64], ["hard", u64]], doc: "setrlimit" },
  { op: "umask", section: "child", fields: [["mask", u64]], doc: "umask" },
  { op: "chdir", section: "child", fields: [["path", str]], doc: "the process's working directory" },
  { op: "caps", section: "child", fields: [["bounding", u64], ["effective", u64], ["permitted", u64], ["inheritable", u64], ["ambient", u64]], doc: "capability sets as bit masks" },
  { op: "no-new-privs", section: "child", fields: [], doc: "prctl(PR_SET_NO_NEW_PRIVS)" },
  { op: "seccomp-init", section: "child", fields: [["defaultAction", u64]], doc: "start a seccomp filter (libseccomp's action value)" },
  { op: "seccomp-arch", section: "child", fields: [["arch", str]], doc: "add an architecture (libseccomp's name)" },
  { op: "seccomp-flag", section: "child", fields: [["flag", ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]]], doc: "a filter flag" },
  { op: "seccomp-rule", section: "child", fields: [["action", u64], ["syscall", str]], rest: ["conditions", u64], group: 4, doc: "a rule; conditions are (argument index, operator, value, value two)" },
  { op: "seccomp-load", section: "child", fields: [], doc: "load the filter" },
  { op: "argv", section: "child", fields: [], rest: ["args", str], doc: "the program's arguments" },
  { op: "env", section: "child", fields: [], rest: ["vars", str], doc: "the program's environment" },
  { op: "lookup", section: "child", fields: [], doc: "find the program on the container's PATH now, so create reports a missing one" },
  { op: "wait-start", section: "child", fields: [], doc: "wait for `start` on the start socket" },
  { op: "exec", section: "child", fields: [["preserveFds", u64]], doc: "close every other fd on exec, and execve" },
  { op: "end", section: "child", fields: [], doc: "the last record of every plan" },
];

/**
 * Messages, in the plan's framing (native/src/wire.h draws the handshake). `channel`: "sync"
 * (between the helper's processes: monitor, joiner, child), "report" (helper to TypeScript:
 * the plan's caller, the `start` caller, the spawner's client), or "both".
 * @type {{msg: string, channel: "sync"|"report"|"both", fields: [string, string|string[]][], doc: string}[]}
 */
export const MESSAGES = [
  { msg: "cpid", channel: "sync", fields: [["pid", u64]], doc: "joiner to monitor: the child it cloned (then the joiner exits)" },
  { msg: "go", channel: "sync", fields: [["hostPid", u64]], doc: "monitor to child: maps, cgroups and runtime hooks are done; the child's pid as the host sees it" },
  { msg: "placed", channel: "sync", fields: [], doc: "child to monitor: it has moved itself into its cgroups (join-cgroup steps)" },
  { msg: "pty", channel: "sync", fields: [], doc: "child to monitor: the pty master follows as SCM_RIGHTS" },
  { msg: "ready", channel: "sync", fields: [["step", u64]], doc: "child to monitor: set up, waiting for start at this plan step (every step before it is done)" },
  { msg: "error", channel: "both", fields: [["step", str], ["op", str], ["errno", u64], ["message", str]], doc: "a step failed (step -1: no plan step, e.g. clone or fork); relayed to TypeScript" },
  { msg: "pid", channel: "report", fields: [["pid", u64], ["done", u64]], doc: "the container's process exists (and waits for start, or runs); done: how many plan steps were executed (all of them once it exec'd): what `explain` records" },
  { msg: "exit", channel: "report", fields: [["code", u64], ["signal", u64]], doc: "foreground mode: the container's exit code (128+signal when killed) and signal" },
  { msg: "monitor-pid", channel: "report", fields: [["pid", u64]], doc: "the spawner forked a monitor for the plan that follows" },
];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const HEADER = "Generated by scripts/gen-wire.mjs from its tables of plan operations and messages: do not edit; change the tables and run it.";

const camel = (s) => s.replace(/-(\w)/g, (_, c) => c.toUpperCase());
const upper = (s) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase().replace(/[^A-Z0-9]+/g, "_");
/** A message field as a C parameter (errno is a macro). */
const cParam = (name) => (name === "errno" ? "err" : name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase());
const cName = (op) => `OP_${upper(op)}`;
const msgName = (m) => `MSG_${upper(m)}`;
/** The C constant of one value of an enumerated field ("" is EMPTY). */
const valueName = (op, field, value) => `${upper(op)}_${upper(field)}_${value === "" ? "EMPTY" : upper(value)}`;
const cField = ([name, t], id) =>
  Array.isArray(t) ? `{"${name}", 'e', ${id}_${name}_values}` : `{"${name}", '${t === u64 ? "u" : "s"}', NULL}`;
const tsType = (t) => (Array.isArray(t) ? t.map((v) => JSON.stringify(v)).join(" | ") : t === u64 ? "U64" : "string");

function typescript() {
  const lines = [
    `// ${HEADER}`,
    "// The plan the C helper executes, one tuple type per operation: [op, ...fields], all text on",
    "// the wire (src/runtime/plan/wire.ts). The helper checks every step against the same table",
    "// before it runs any (native/src/plan-check.c).",
    "",
    "/** A number as the helper reads it: decimal without leading zeros, or 0x and lower-case hex; at most 2^64-1. */",
    "export type U64 = string;",
    "",
    "export type PlanStep =",
  ];
  for (const o of PLAN_OPS) {
    const fields = o.fields.map(([name, t]) => `${name}: ${tsType(t)}`);
    if (o.rest) fields.push(`...${o.rest[0]}: ${tsType(o.rest[1])}[]`);
    lines.push(`  /** ${o.doc} */`);
    lines.push(`  | readonly [${[JSON.stringify(o.op), ...fields].join(", ")}]`);
  }
  lines[lines.length - 1] += ";";
  lines.push("");
  lines.push("export type PlanOp = PlanStep[0];");
  lines.push("");
  lines.push("export interface PlanOpSpec {");
  lines.push('  section: "monitor" | "child" | "any";');
  lines.push("  /** name and type of each fixed field: \"str\", \"u64\", or the allowed values */");
  lines.push("  fields: readonly (readonly [name: string, type: \"str\" | \"u64\" | readonly string[]])[];");
  lines.push("  /** a variadic tail */");
  lines.push("  rest?: readonly [name: string, type: \"str\" | \"u64\"];");
  lines.push("  /** the tail's length is a multiple of this */");
  lines.push("  group?: number;");
  lines.push("}");
  lines.push("");
  lines.push("export const PLAN_OPS: Readonly<Record<PlanOp, PlanOpSpec>> = {");
  for (const o of PLAN_OPS) {
    const spec = { section: o.section, fields: o.fields, ...(o.rest ? { rest: o.rest } : {}), ...(o.group ? { group: o.group } : {}) };
    lines.push(`  ${JSON.stringify(o.op)}: ${JSON.stringify(spec)},`);
  }
  lines.push("};");
  lines.push("");
  lines.push("/** What the helper's processes send, to each other (sync) and to TypeScript (report). */");
  lines.push("export type HelperMessage =");
  for (const m of MESSAGES) {
    lines.push(`  /** ${m.channel}: ${m.doc} */`);
    lines.push(`  | readonly [${[JSON.stringify(m.msg), ...m.fields.map(([name, t]) => `${name}: ${tsType(t)}`)].join(", ")}]`);
  }
  lines[lines.length - 1] += ";";
  lines.push("");
  lines.push("export type HelperMessageName = HelperMessage[0];");
  lines.push("");
  lines.push("export const HELPER_MESSAGES: Readonly<Record<HelperMessageName, { channel: \"sync\" | \"report\" | \"both\"; fields: PlanOpSpec[\"fields\"] }>> = {");
  for (const m of MESSAGES) lines.push(`  ${JSON.stringify(m.msg)}: ${JSON.stringify({ channel: m.channel, fields: m.fields })},`);
  lines.push("};");
  return lines.join("\n") + "\n";
}

function cHeader() {
  const lines = [
    `/* ${HEADER} */`,
    "#ifndef GANTRY_PLAN_OPS_H",
    "#define GANTRY_PLAN_OPS_H",
    '#include "wire.h"',
    "",
    "enum plan_op {",
    ...PLAN_OPS.map((o) => `\t${cName(o.op)}, /* ${o.doc.replace(/\*\//g, "* /")} */`),
    "\tPLAN_OP_COUNT,",
    "\tPLAN_OP_UNKNOWN = -1,",
    "};",
    "",
    "enum plan_section { PLAN_SECTION_MONITOR = 1, PLAN_SECTION_CHILD = 2, PLAN_SECTION_ANY = 3 };",
    "",
    "/* One field: its name, and its type: 's' any text, 'u' a u64, 'e' one of `values`. */",
    "struct plan_field {",
    "\tconst char *name;",
    "\tchar type;",
    "\tconst char *const *values; /* NULL-terminated, for 'e' */",
    "};",
    "",
    "struct plan_op_spec {",
    "\tconst char *name;",
    "\tenum plan_section section;",
    "\tunsigned nfields; /* fixed fields after the op name */",
    "\tconst struct plan_field *fields;",
    "\tchar rest;        /* variadic tail: 0 none, 's' text, 'u' u64s */",
    "\tunsigned group;   /* the tail's length is a multiple of this */",
    "};",
    "",
    "extern const struct plan_op_spec plan_ops[PLAN_OP_COUNT];",
    "",
    "/* Field positions in a record (field 0 is the op). */",
  ];
  for (const o of PLAN_OPS) {
    o.fields.forEach(([name], i) => lines.push(`#define ${cName(o.op).slice(3)}_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()} ${i + 1}`));
    if (o.rest) lines.push(`#define ${cName(o.op).slice(3)}_REST ${o.fields.length + 1}`);
  }
  lines.push("", "/* The values of each enumerated field, in table order (plan_enum() of a checked record). */");
  for (const o of PLAN_OPS)
    for (const [name, t] of o.fields)
      if (Array.isArray(t)) lines.push(`enum { ${t.map((v) => valueName(o.op, name, v)).join(", ")} };`);
  lines.push(
    "",
    "/* Messages between the helper's processes and to TypeScript (wire.h draws the handshake). */",
    "enum wire_msg {",
    ...MESSAGES.map((m) => `\t${msgName(m.msg)}, /* ${m.channel}: ${m.doc.replace(/\*\//g, "* /")} */`),
    "\tWIRE_MSG_COUNT,",
    "\tWIRE_MSG_UNKNOWN = -1,",
    "};",
    "",
    "struct wire_msg_spec {",
    "\tconst char *name;",
    "\tunsigned nfields;",
    "\tconst struct plan_field *fields;",
    "};",
    "",
    "extern const struct wire_msg_spec wire_msgs[WIRE_MSG_COUNT];",
    "",
    "/* Field positions in a message (field 0 is its name). */",
  );
  for (const m of MESSAGES) m.fields.forEach(([name], i) => lines.push(`#define ${msgName(m.msg)}_${upper(name)} ${i + 1}`));
  lines.push("", "/* One sender per message: the field count is the compiler's to check. */");
  for (const m of MESSAGES) {
    const params = m.fields.map(([name]) => `const char *${cParam(name)}`);
    const args = [`wire_msgs[${msgName(m.msg)}].name`, ...m.fields.map(([name]) => cParam(name))];
    lines.push(`static inline int send_${m.msg.replace(/-/g, "_")}(${["int fd", ...params].join(", ")})`);
    lines.push("{");
    lines.push(`\tconst char *f[] = {${args.join(", ")}};`);
    lines.push(`\treturn wire_write(fd, ${args.length}, f);`);
    lines.push("}");
  }
  lines.push("#endif");
  return lines.join("\n") + "\n";
}

function cSource() {
  const lines = [`/* ${HEADER} */`, '#include "plan-ops.h"', "#include <stddef.h>", ""];
  const section = { monitor: "PLAN_SECTION_MONITOR", child: "PLAN_SECTION_CHILD", any: "PLAN_SECTION_ANY" };
  for (const o of PLAN_OPS) {
    const id = camel(o.op).replace(/-/g, "_");
    o.fields.forEach(([name, t]) => {
      if (Array.isArray(t)) lines.push(`static const char *const ${id}_${name}_values[] = {${t.map((v) => JSON.stringify(v)).join(", ")}, NULL};`);
    });
    if (o.fields.length) lines.push(`static const struct plan_field ${id}_fields[] = {${o.fields.map((f) => cField(f, id)).join(", ")}};`);
  }
  lines.push("", "const struct plan_op_spec plan_ops[PLAN_OP_COUNT] = {");
  for (const o of PLAN_OPS) {
    const id = camel(o.op).replace(/-/g, "_");
    const rest = o.rest ? `'${o.rest[1] === u64 ? "u" : "s"}'` : "0";
    lines.push(`\t[${cName(o.op)}] = {"${o.op}", ${section[o.section]}, ${o.fields.length}, ${o.fields.length ? `${id}_fields` : "NULL"}, ${rest}, ${o.group ?? 1}},`);
  }
  lines.push("};");
  lines.push("");
  for (const m of MESSAGES) {
    const id = `msg_${camel(m.msg)}`;
    if (m.fields.length) lines.push(`static const struct plan_field ${id}_fields[] = {${m.fields.map((f) => cField(f, id)).join(", ")}};`);
  }
  lines.push("", "const struct wire_msg_spec wire_msgs[WIRE_MSG_COUNT] = {");
  for (const m of MESSAGES) {
    const id = `msg_${camel(m.msg)}`;
    lines.push(`\t[${msgName(m.msg)}] = {"${m.msg}", ${m.fields.length}, ${m.fields.length ? `${id}_fields` : "NULL"}},`);
  }
  lines.push("};");
  return lines.join("\n") + "\n";
}

const outputs = {
  "src/runtime/plan/plan-ops.ts": typescript(),
  "native/src/plan-ops.h": cHeader(),
  "native/src/plan-ops.c": cSource(),
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  const stale = [];
  for (const [path, text] of Object.entries(outputs)) {
    const file = join(root, path);
    let old;
    try {
      old = readFileSync(file, "utf8");
    } catch {
      old = undefined;
    }
    if (old === text) continue;
    if (check) stale.push(path);
    else writeFileSync(file, text);
  }
  if (stale.length) {
    console.error(`${stale.join(", ")}: stale — the table in scripts/gen-wire.mjs changed; run node scripts/gen-wire.mjs and commit the result`);
    process.exit(1);
  }
  if (!check) console.log(`wrote ${Object.keys(outputs).join(", ")}`);
}
