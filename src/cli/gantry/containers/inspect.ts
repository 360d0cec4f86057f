// The verbs that look without changing anything: inspect, ps, port, top, stats, diff,
// events, info, version, and Gantry's `ns` (which containers share each namespace).
import { readlinkSync } from "node:fs";
import type { Command } from "commander";
import { GantryError } from "../../../common/errors.ts";
import { SystemClient, type ContainerInspect } from "../../../engine/index.ts";
import { clientOf, containersOf } from "../daemon-client.ts";
import { renderTemplate } from "../image-commands.ts";
import { collect, parseFilters } from "./argv.ts";
import { out, table } from "./output.ts";
import { psRow, statsRow } from "./rows.ts";
import { podNamespaces, type PodFlags } from "./explain.ts";

/** The order `ls -l /proc/PID/ns` lists them in. */
const NS_ORDER = ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];

/** Docker's `docker events` line: time, type, action, actor and its attributes. */
export function eventLine(ev: { Type: string; Action: string; Actor: { ID: string; Attributes?: Record<string, string> | null }; timeNano: number }): string {
  const attrs = Object.entries(ev.Actor.Attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
  return `${new Date(Number(ev.timeNano) / 1e6).toISOString()} ${ev.Type} ${ev.Action} ${ev.Actor.ID} (${attrs})`;
}

export function registerInspectCommands(program: Command): void {
  program
    .command("inspect")
    .description("Low-level information on containers (Docker's JSON plus a Gantry key)")
    .option("-f, --format <template>", "Go-template subset: {{.State.Pid}}, {{json .Config}}")
    .argument("<containers...>")
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const containers = containersOf(cmd);
      const docs: ContainerInspect[] = [];
      let failed = false;
      for (const r of refs) {
        try {
          docs.push(await containers.inspect(r));
        } catch (err) {
          failed = true;
          process.stderr.write(`${(err as Error).message}\n`);
        }
      }
      if (o.format) docs.forEach((d) => out(renderTemplate(o.format as string, d)));
      else out(JSON.stringify(docs, null, 4));
      if (failed) process.exitCode = 1;
    });

  program
    .command("ps")
    .description("List containers")
    .option("-a, --all", "all containers (default: running)")
    .option("-q, --quiet", "only IDs")
    .option("-f, --filter <k=v>", "filter (name, status, id, label, exited, ancestor, health)", collect, [])
    .option("--format <template>", "Go-template subset: {{.ID}} {{.Names}} {{.Status}}")
    .option("--no-trunc", "do not truncate")
    .option("-n, --last <n>", "last n containers")
    .action(async (o: { all?: boolean; quiet?: boolean; filter: string[]; format?: string; trunc: boolean; last?: string }, cmd: Command) => {
      const list = await containersOf(cmd).list({ all: !!(o.all || o.last), limit: o.last ? Number(o.last) : undefined, filters: parseFilters(o.filter) });
      const rows = list.map((c) => psRow(c, o.trunc));
      if (o.quiet) return rows.forEach((r) => out(r.ID));
      if (o.format) return rows.forEach((r) => out(renderTemplate(o.format as string, r)));
      table([["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names])]);
    });

  program
    .command("port")
    .description("List a container's port mappings")
    .argument("<container>")
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const info = await containersOf(cmd).inspect(ref);
      for (const [k, v] of Object.entries(info.NetworkSettings.Ports ?? {})) for (const b of v ?? []) out(`${k} -> ${b.HostIp || "0.0.0.0"}:${b.HostPort}`);
    });

  program
    .command("top")
    .description("Show a container's processes")
    .argument("<container>")
    .argument("[ps-options...]")
    .action(async (ref: string, psArgs: string[], _o: unknown, cmd: Command) => {
      const r = await containersOf(cmd).top(ref, psArgs.join(" "));
      table([r.Titles, ...r.Processes]);
    });

  program
    .command("stats")
    .description("Live resource usage of containers")
    .option("--no-stream", "print one sample and exit")
    .option("-a, --all", "all containers, not only running")
    .option("--format <template>", "Go-template subset")
    .argument("[containers...]")
    .action(async (refs: string[], o: { stream: boolean; all?: boolean; format?: string }, cmd: Command) => {
      const containers = containersOf(cmd);
      const ids = refs.length ? refs : (await containers.list({ all: o.all })).map((c) => c.Id);
      for (;;) {
        const rows = await Promise.all(ids.map(async (id) => statsRow(await containers.stats(id))));
        if (o.stream) process.stdout.write("\x1b[2J\x1b[H");
        if (o.format) rows.forEach((r) => out(renderTemplate(o.format as string, r)));
        else table([["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"], ...rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.PIDs])]);
        if (!o.stream) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

  program
    .command("diff")
    .description("Changes to a container's filesystem")
    .argument("<container>")
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      for (const c of await containersOf(cmd).changes(ref)) out(`${"CAD"[c.Kind]} ${c.Path}`);
    });

  program
    .command("events")
    .description("Stream engine events")
    .option("--since <t>", "unix time")
    .option("--until <t>", "unix time")
    .option("-f, --filter <k=v>", "filter", collect, [])
    .option("--format <template>", "Go-template subset")
    .action(async (o: { since?: string; until?: string; filter: string[]; format?: string }, cmd: Command) => {
      for await (const ev of new SystemClient(clientOf(cmd)).events({ since: o.since, until: o.until, filters: parseFilters(o.filter) })) {
        out(o.format ? renderTemplate(o.format, ev) : eventLine(ev));
      }
    });

  program
    .command("info")
    .description("System-wide information from the daemon")
    .option("-f, --format <template>", "Go-template subset")
    .action(async (o: { format?: string }, cmd: Command) => {
      const info = await new SystemClient(clientOf(cmd)).info();
      if (o.format) {
        out(renderTemplate(o.format, info));
        return;
      }
      for (const k of ["ServerVersion", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver", "CgroupDriver", "CgroupVersion", "KernelVersion", "NCPU", "MemTotal", "DockerRootDir", "DefaultRuntime"]) {
        out(`${k}: ${String(info[k])}`);
      }
    });

  program
    .command("version")
    .description("Client and daemon versions")
    .action(async (_o: unknown, cmd: Command) => {
      out(`Client: gantry 0.1.0 (API 1.50)`);
      const v = await new SystemClient(clientOf(cmd)).version();
      out(`Server: ${v.Platform.Name} ${v.Version} (API ${v.ApiVersion}, minimum ${v.MinAPIVersion}), kernel ${v.KernelVersion}`);
    });

  program
    .command("ns")
    .description("Show a container's namespaces (like ls -l /proc/PID/ns) and which other containers share each; for pod/NAME, every container of the pod")
    .option("--kubeconfig <file>", "pod/NAME of a cluster, through the API server to the pod's node ($KUBECONFIG)")
    .option("-n, --namespace <ns>", "the pod's namespace", "default")
    .argument("<container>", "an engine container (name or id), or pod/NAME with --kubeconfig")
    .action(async (ref: string, o: PodFlags, cmd: Command) => {
      if (o.kubeconfig || /^pods?\//.test(ref)) return podNamespaces(ref, o);
      const containers = containersOf(cmd);
      const info = await containers.inspect(ref);
      const pid = Number(info.State.Pid);
      if (!pid) throw new GantryError("CONFLICT", `container ${ref} is not running`);
      const others = (await containers.list()).filter((c) => c.Id !== info.Id);
      const otherNs = await Promise.all(others.map(async (c) => ({ name: c.Names[0]!.slice(1), ns: (await containers.inspect(c.Id)).Gantry?.Namespaces ?? {} })));
      const ns = info.Gantry?.Namespaces ?? {};
      out(`namespaces of ${info.Name.slice(1)} (pid ${pid}):`);
      for (const n of NS_ORDER) {
        const link = ns[n];
        if (!link) continue;
        let host = "";
        try {
          host = readlinkSync(`/proc/self/ns/${n}`) === link ? "  [host]" : "";
        } catch {
          host = "";
        }
        const sharers = otherNs.filter((o) => o.ns[n] === link).map((o) => o.name);
        out(`lrwxrwxrwx 1 root root 0 ${n.padEnd(18)} -> ${link.padEnd(20)}${host}${sharers.length ? `  shared with: ${sharers.join(", ")}` : ""}`);
      }
      // The user namespace's maps ("inside outside count", as /proc/PID/uid_map): the host's
      // identity map, the daemon's --userns-remap range, or an --userns=auto range.
      const userns = info.Gantry?.Userns;
      if (userns) {
        out(`user namespace (${userns.Mode}):`);
        for (const line of userns.UidMap) out(`  uid_map  ${line}`);
        for (const line of userns.GidMap) out(`  gid_map  ${line}`);
      }
    });
}
