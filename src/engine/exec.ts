// `docker exec`: an exec instance is created (its config kept in memory, as dockerd does),
// then started through the OCI runtime's command line (`gantry-runtime exec`, runc's
// interface), whose stdio are our pipes: the runtime's helper joins the container's
// namespaces and cgroup and stays the process's parent, so its exit status is the command's.
// The ExitCode is recorded before the client's stream is closed (podman#6893: the CLI
// inspects the exec right after EOF).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GantryError, conflict, notFound } from "../common/errors.ts";
import { resolveUser } from "../image/runtime-config.ts";
import type { ClientStream } from "./attach.ts";
import type { ContainerRecord } from "./container-store.ts";
import { frame } from "./logs.ts";

export interface ExecConfig {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[];
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

export interface ExecInstance {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  child?: ChildProcess;
}

/** How to run the runtime's CLI: the bundled bin/gantry-runtime, or its TypeScript source under tsx. */
export function runtimeCommand(): { cmd: string; args: string[] } {
  const env = process.env.GANTRY_RUNTIME_CLI;
  if (env) return /\.m?js$/.test(env) ? { cmd: process.execPath, args: [env] } : { cmd: env, args: [] };
  const here = dirname(fileURLToPath(import.meta.url));
  if (import.meta.url.endsWith(".ts")) {
    const repo = join(here, "..", "..");
    return { cmd: process.execPath, args: ["--import", "tsx", join(repo, "src", "cli", "runtime", "main.ts")] };
  }
  let dir = here;
  for (let i = 0; i < 4; i++) {
    const bundle = join(dir, "dist", "gantry-runtime.mjs");
    if (existsSync(bundle)) return { cmd: process.execPath, args: [bundle] };
    const sibling = join(dir, "gantry-runtime.mjs");
    if (existsSync(sibling)) return { cmd: process.execPath, args: [sibling] };
    dir = dirname(dir);
  }
  throw new GantryError("INTERNAL", "cannot find the gantry-runtime CLI (dist/gantry-runtime.mjs)", { hint: "run npm run build" });
}

export class ExecTable {
  private readonly byId = new Map<string, ExecInstance>();

  /** `runtimeCommand` gives the runtime CLI and its --root (runc's exec interface). */
  constructor(private readonly runtimeCommandOf: () => { cmd: string; args: string[] }) {}

  create(rec: ContainerRecord, config: ExecConfig): ExecInstance {
    if (rec.State.Status === "paused") throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    if (rec.State.Status !== "running") throw conflict(`Container ${rec.Id} is not running`);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0) throw new GantryError("INVALID_ARGUMENT", "No exec command specified");
    const ex: ExecInstance = { ID: randomBytes(32).toString("hex"), ContainerID: rec.Id, Config: config, Running: false, ExitCode: null, Pid: 0 };
    this.byId.set(ex.ID, ex);
    // Forget finished execs eventually, as dockerd does (it keeps them until the container goes).
    if (this.byId.size > 1000) {
      for (const [id, e] of this.byId) if (!e.Running) { this.byId.delete(id); break; }
    }
    return ex;
  }

  get(id: string): ExecInstance {
    const ex = this.byId.get(id);
    if (!ex) throw notFound(`No such exec instance: ${id}`);
    return ex;
  }

  forContainer(id: string): string[] {
    return [...this.byId.values()].filter((e) => e.ContainerID === id).map((e) => e.ID);
  }

  /** Starts the exec; with a client, relays its stdio; resolves with the exit code. */
  start(ex: ExecInstance, rec: ContainerRecord, client: ClientStream | undefined): Promise<number> {
    if (ex.Running || ex.ExitCode !== null) throw conflict(`Error: Exec command ${ex.ID} has already run`);
    if (rec.State.Status !== "running") throw conflict(`Container ${rec.Id} is not running`);
    const c = ex.Config;
    const rt = this.runtimeCommandOf();
    const args = [...rt.args, "exec"];
    if (c.Tty) args.push("--tty");
    if (c.WorkingDir) args.push("--cwd", c.WorkingDir);
    for (const e of c.Env ?? []) args.push("--env", e);
    if (c.User) {
      const read = (p: string) => {
        try {
          return readFileSync(join(rec.Rootfs, p), "utf8");
        } catch {
          return undefined;
        }
      };
      const u = resolveUser(c.User, read("etc/passwd"), read("etc/group"));
      args.push("--user", `${u.uid}:${u.gid}`);
      for (const g of u.additionalGids) args.push("--additional-gids", String(g));
    }
    if (c.Privileged) args.push("--cap", "ALL");
    args.push("--", rec.Id, ...(c.Cmd ?? []));
    const child = spawn(rt.cmd, args, { stdio: [c.AttachStdin && client ? "pipe" : "ignore", "pipe", "pipe"] });
    ex.child = child;
    ex.Running = true;
    ex.Pid = child.pid ?? 0;
    const send = (type: number, b: Buffer) => {
      if (!client || client.closed) return;
      client.write(c.Tty ? b : frame(type, b));
    };
    if (c.AttachStdout !== false) child.stdout?.on("data", (b: Buffer) => send(1, b));
    else child.stdout?.resume();
    let errText = "";
    child.stderr?.on("data", (b: Buffer) => {
      // The runtime CLI's own failure lines go to the client too: the user needs to see them.
      if (c.AttachStderr !== false) send(2, b);
      errText += b.toString();
    });
    if (client && child.stdin) {
      client.onData((b) => child.stdin?.write(b));
      client.onInputEnd(() => child.stdin?.end());
      child.stdin.on("error", () => {});
    }
    client?.onClose(() => {
      if (ex.Running && !c.Tty) return; // docker exec without -i may half-close; keep running
    });
    return new Promise<number>((resolve) => {
      child.on("error", (err) => {
        errText += err.message;
      });
      child.on("close", (code, signal) => {
        ex.Running = false;
        ex.ExitCode = code ?? (signal ? 128 + (signalNumberOf(signal) ?? 0) : 126);
        if (/executable file not found|no such file or directory|ENOENT/i.test(errText) && ex.ExitCode === 1) ex.ExitCode = 127;
        client?.end();
        resolve(ex.ExitCode);
      });
    });
  }
}

function signalNumberOf(sig: NodeJS.Signals): number | undefined {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[sig];
}
