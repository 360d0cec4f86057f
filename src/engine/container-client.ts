// The container half of the engine client: one typed method per container and exec verb over
// the daemon's Docker Engine API (routes in api/routes/containers.ts and exec.ts), so callers
// never build a URL. Streams come back raw (a hijacked socket, a response to pipe) because
// what to do with them — a terminal, a file, tar — is the caller's.
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { CreateBody } from "./api-types.ts";
import type { WaitCondition } from "./engine.ts";
import type { ExecConfig } from "./exec.ts";
import type { UpdateBody } from "./update.ts";
import type { Explained, Glass } from "./glass.ts";
import { apiError, filtersJson, query, readAll, type EngineClient, type Filters } from "./client.ts";

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Labels: Record<string, string> | null;
  [key: string]: unknown;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Status: string; Pid: number; ExitCode: number; [key: string]: unknown };
  Config: { Tty?: boolean; OpenStdin?: boolean; [key: string]: unknown };
  NetworkSettings: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null; [key: string]: unknown };
  /** Gantry's own key: the container's namespaces as /proc/PID/ns link targets. */
  Gantry?: { Namespaces?: Record<string, string>; Userns?: { Mode: string; UidMap: string[]; GidMap: string[] }; [key: string]: unknown };
  [key: string]: unknown;
}

/** POST /containers/{id}/exec: the exec's config, with the command required. */
export type ExecCreateBody = ExecConfig & { Cmd: string[]; Detach?: boolean };

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  [key: string]: unknown;
}

export interface WaitResult {
  StatusCode: number;
  Error?: { Message: string } | null;
}

/** The daemon's stats sample in Docker's shape (only what callers read is typed). */
export interface StatsSample {
  id: string;
  name: string;
  cpu_stats: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
  [key: string]: unknown;
}

export interface Change {
  Path: string;
  /** 0 modified, 1 added, 2 deleted. */
  Kind: number;
}

const ref = (r: string) => encodeURIComponent(r);

export class ContainerClient {
  constructor(readonly engine: EngineClient) {}

  /** A response that is read as a stream; a daemon error becomes the thrown error. */
  private async streamed(method: string, path: string, body?: Readable, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    const res = await this.engine.raw(method, path, body, headers);
    if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, await readAll(res));
    return res;
  }

  list(opts: { all?: boolean; limit?: number; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    return this.engine.call("GET", `/containers/json${query({ all: opts.all, limit: opts.limit, filters: filtersJson(opts.filters) })}`);
  }

  create(body: CreateBody, opts: { name?: string } = {}): Promise<{ Id: string; Warnings: string[] | null }> {
    return this.engine.call("POST", `/containers/create${query({ name: opts.name || undefined })}`, body);
  }

  inspect(container: string): Promise<ContainerInspect> {
    return this.engine.call("GET", `/containers/${ref(container)}/json`);
  }

  async start(container: string): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/start`);
  }

  /** `timeout` in seconds before SIGKILL; the daemon's default (the container's) when absent. */
  async stop(container: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/stop${query({ t: opts.timeout, signal: opts.signal })}`);
  }

  async restart(container: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/restart${query({ t: opts.timeout, signal: opts.signal })}`);
  }

  async kill(container: string, signal?: string): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/kill${query({ signal })}`);
  }

  async remove(container: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    await this.engine.call("DELETE", `/containers/${ref(container)}${query({ force: opts.force, v: opts.volumes })}`);
  }

  async pause(container: string): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/pause`);
  }

  async unpause(container: string): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/unpause`);
  }

  /** `docker update`: new limits and restart policy; the daemon's warnings come back. */
  update(container: string, body: UpdateBody): Promise<{ Warnings: string[] | null }> {
    return this.engine.call("POST", `/containers/${ref(container)}/update`, body);
  }

  async rename(container: string, name: string): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/rename${query({ name })}`);
  }

  wait(container: string, condition?: WaitCondition): Promise<WaitResult> {
    return this.engine.call("POST", `/containers/${ref(container)}/wait${query({ condition })}`);
  }

  /**
   * A wait registered now and answered later: resolves once the daemon has answered the
   * headers (so the wait is in place before the caller starts the container — `docker run`
   * must not miss a fast exit), with `exited` resolving at the condition.
   */
  async armWait(container: string, condition: WaitCondition): Promise<{ exited: Promise<WaitResult> }> {
    const res = await this.streamed("POST", `/containers/${ref(container)}/wait${query({ condition })}`);
    return { exited: readAll(res).then((text) => ({ StatusCode: 0, ...(JSON.parse(text || "{}") as Partial<WaitResult>) })) };
  }

  /** The container's stdio as a hijacked socket (raw if it has a TTY, else multiplexed). */
  attach(container: string, opts: { stdin?: boolean } = {}): Promise<Socket> {
    return this.engine.hijack(`/containers/${ref(container)}/attach${query({ stream: true, stdout: true, stderr: true, stdin: opts.stdin })}`, undefined);
  }

  async resize(container: string, rows: number, columns: number): Promise<void> {
    await this.engine.call("POST", `/containers/${ref(container)}/resize${query({ h: rows, w: columns })}`);
  }

  /** The log stream: raw for a TTY container, else Docker's multiplexed frames. `since` is a
   * unix time in seconds (fractions allowed, as Docker's). */
  logs(container: string, opts: { follow?: boolean; tail?: string; since?: string; timestamps?: boolean } = {}): Promise<IncomingMessage> {
    const q = query({ stdout: true, stderr: true, tail: opts.tail, follow: opts.follow, timestamps: opts.timestamps, since: opts.since });
    return this.streamed("GET", `/containers/${ref(container)}/logs${q}`);
  }

  top(container: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    return this.engine.call("GET", `/containers/${ref(container)}/top${query({ ps_args: psArgs || undefined })}`);
  }

  /** One sample (the daemon samples twice so CPU % can be computed). */
  stats(container: string): Promise<StatsSample> {
    return this.engine.call("GET", `/containers/${ref(container)}/stats${query({ stream: "0" })}`);
  }

  /** Gantry's own: the kernel steps recorded when the container was created (glass.ts). */
  explain(container: string): Promise<Explained> {
    return this.engine.call<Explained>("GET", `/gantry/containers/${ref(container)}/explain`);
  }

  /** Gantry's own: its namespaces, cgroup limit files and id maps as the kernel holds them now. */
  glass(container: string): Promise<Glass> {
    return this.engine.call<Glass>("GET", `/gantry/containers/${ref(container)}/glass`);
  }

  async changes(container: string): Promise<Change[]> {
    return (await this.engine.call<Change[] | null>("GET", `/containers/${ref(container)}/changes`)) ?? [];
  }

  /** The container's filesystem as one tar stream. */
  export(container: string): Promise<IncomingMessage> {
    return this.streamed("GET", `/containers/${ref(container)}/export`);
  }

  /** `path` inside the container as a tar stream (its last element is the archive's top). */
  getArchive(container: string, path: string): Promise<IncomingMessage> {
    return this.streamed("GET", `/containers/${ref(container)}/archive${query({ path })}`);
  }

  /** Unpacks a tar stream into the directory `path` inside the container. */
  async putArchive(container: string, path: string, tar: Readable): Promise<void> {
    const res = await this.streamed("PUT", `/containers/${ref(container)}/archive${query({ path })}`, tar, { "Content-Type": "application/x-tar" });
    await readAll(res);
  }

  prune(): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    return this.engine.call("POST", "/containers/prune");
  }

  // ---- exec ----

  async execCreate(container: string, body: ExecCreateBody): Promise<string> {
    const { Id } = await this.engine.call<{ Id: string }>("POST", `/containers/${ref(container)}/exec`, body);
    return Id;
  }

  /** Starts an exec in the background; nothing is attached. */
  async execStartDetached(exec: string, opts: { tty?: boolean } = {}): Promise<void> {
    await this.engine.call("POST", `/exec/${ref(exec)}/start`, { Detach: true, Tty: !!opts.tty });
  }

  /** Starts an exec with its stdio on a hijacked socket. */
  execStart(exec: string, opts: { tty?: boolean } = {}): Promise<Socket> {
    return this.engine.hijack(`/exec/${ref(exec)}/start`, { Detach: false, Tty: !!opts.tty });
  }

  execInspect(exec: string): Promise<ExecInspect> {
    return this.engine.call("GET", `/exec/${ref(exec)}/json`);
  }

  async execResize(exec: string, rows: number, columns: number): Promise<void> {
    await this.engine.call("POST", `/exec/${ref(exec)}/resize${query({ h: rows, w: columns })}`);
  }
}
