// The Docker Engine API (1.41–1.50) over a unix socket with node:http: the routes the docker
// CLI 28 and dockerode use (see /work/shared/compat/docker-api.md). Every route is served with
// and without the /v1.NN prefix. Attach and exec start answer an `Upgrade: tcp` request with
// 101 and then speak the raw or multiplexed stream on the socket; without Upgrade they stream
// the response body instead.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { chmodSync, mkdirSync, rmSync, existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { release, hostname, arch, cpus } from "node:os";
import { GantryError, invalidArgument, notFound } from "../../common/errors.ts";
import { listImages, exportFilesystem } from "../../image/mod.ts";
import { fromDockerNetworkCreate, toDockerNetwork, type DockerNetworkCreateBody } from "../../network/index.ts";
import { fromDockerVolumeCreate, toDockerVolume } from "../../volume/index.ts";
import type { CreateBody } from "../api-types.ts";
import { connectMonitor, parseDetachKeys, relayAttach, sendResize, type ClientStream } from "../attach.ts";
import type { Engine, WaitCondition } from "../engine.ts";
import { matchesFilters } from "../events.ts";
import { ExecTable, type ExecConfig } from "../exec.ts";
import { ALL_CAPS } from "../oci-spec.ts";
import { streamLogs } from "../logs.ts";
import { changesOf, containerSummary, dockerStats, hostMemTotal, inspectContainer, matchesPsFilters, topOf } from "../views.ts";
import { getArchive, putArchive, statArchive } from "../archive.ts";
import {
  API_VERSION,
  MIN_API_VERSION,
  boolParam,
  filtersParam,
  intParam,
  parseRequest,
  readJson,
  responseStream,
  sendError,
  sendJson,
  upgradedStream,
  writeUpgradeHeaders,
  type Request,
  type RouteHandler,
  type RouteTable,
} from "./http.ts";
import { registerImageRoutes } from "./routes/images.ts";

export const GANTRY_VERSION = "0.1.0";

type StreamHandler = (r: Request, client: ClientStream, m: RegExpExecArray, begin: (tty: boolean) => void, body: Buffer) => Promise<void>;

export class ApiServer implements RouteTable {
  readonly server: Server;
  readonly execs: ExecTable;
  private readonly routes: { method: string; re: RegExp; handler: RouteHandler }[] = [];
  private readonly streamRoutes: { re: RegExp; handler: StreamHandler }[] = [];

  constructor(private readonly engine: Engine) {
    this.execs = new ExecTable(engine.runtime, join(engine.execRoot, "exec"), engine.host.boundingCaps ?? ALL_CAPS);
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.onUpgrade(req, socket, head));
    this.server.keepAliveTimeout = 60_000;
    this.register();
  }

  listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    rmSync(socketPath, { force: true });
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(socketPath, () => {
        chmodSync(socketPath, 0o600);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  on(method: string, pattern: string, handler: RouteHandler): void {
    this.routes.push({ method, re: new RegExp(`^${pattern}$`), handler });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const r = parseRequest(req);
      for (const s of this.streamRoutes) {
        const m = s.re.exec(r.path);
        if (m && r.method === "POST") {
          const body = await new Promise<Buffer>((resolve) => {
            const chunks: Buffer[] = [];
            const len = Number(req.headers["content-length"] ?? 0);
            if (!len) return resolve(Buffer.alloc(0));
            let got = 0;
            req.on("data", (c: Buffer) => {
              chunks.push(c);
              got += c.length;
              if (got >= len) resolve(Buffer.concat(chunks));
            });
            req.on("end", () => resolve(Buffer.concat(chunks)));
          });
          let stream: ClientStream | undefined;
          const lazy: ClientStream = {
            write: (b) => stream?.write(b),
            end: () => (stream ? stream.end() : res.end()),
            onData: (cb) => stream?.onData(cb),
            onInputEnd: (cb) => stream?.onInputEnd(cb),
            onClose: (cb) => res.on("close", cb),
            get closed() {
              return stream ? stream.closed : res.writableEnded;
            },
          };
          await s.handler(r, lazy, m, (tty) => (stream = responseStream(req, res, tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream")), body);
          if (!stream && !res.headersSent) {
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end();
          }
          return;
        }
      }
      const candidates = this.routes.filter((x) => x.re.test(r.path));
      const route = candidates.find((x) => x.method === r.method || (x.method === "GET" && r.method === "HEAD" && !candidates.some((c) => c.method === "HEAD")));
      if (!route) {
        if (candidates.length) throw new GantryError("INVALID_ARGUMENT", `method ${r.method} not allowed on ${r.path}`);
        throw notFound(`page not found`);
      }
      await route.handler(r, res, route.re.exec(r.path)!);
    } catch (err) {
      sendError(res, err);
    }
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => {});
    let r: Request;
    try {
      r = parseRequest(req);
    } catch (err) {
      return rejectUpgrade(socket, err);
    }
    const route = this.streamRoutes.map((s) => ({ s, m: s.re.exec(r.path) })).find((x) => x.m);
    if (!route || r.method !== "POST") return rejectUpgrade(socket, notFound("page not found"));
    // The request body (exec start's JSON) follows the headers on the socket: read it first.
    const len = Number(req.headers["content-length"] ?? 0);
    let body = head;
    while (body.length < len) {
      const chunk = await new Promise<Buffer | null>((resolve) => {
        const onData = (c: Buffer) => {
          socket.off("end", onEnd);
          resolve(c);
        };
        const onEnd = () => {
          socket.off("data", onData);
          resolve(null);
        };
        socket.once("data", onData);
        socket.once("end", onEnd);
      });
      if (!chunk) break;
      body = Buffer.concat([body, chunk]);
    }
    socket.pause();
    const rest = body.subarray(len);
    const client = upgradedStream(socket, rest, 0);
    socket.resume();
    let begun = false;
    try {
      await route.s.handler(
        r,
        client,
        route.m!,
        (tty) => {
          begun = true;
          writeUpgradeHeaders(socket, tty, r.apiVersion);
        },
        body.subarray(0, len),
      );
      if (!begun) {
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n");
        socket.end();
      }
    } catch (err) {
      if (!begun) rejectUpgrade(socket, err);
      else socket.destroy();
    }
  }

  // ------------------------------------------------------------------------------------------

  private register(): void {
    const e = this.engine;
    const ID = "([^/]+)";

    const pingHeaders = {
      "Api-Version": API_VERSION,
      Ostype: "linux",
      "Docker-Experimental": "false",
      "Builder-Version": "1",
      Swarm: "inactive",
      "Cache-Control": "no-cache, no-store, must-revalidate",
      Pragma: "no-cache",
      Server: `Gantry/${GANTRY_VERSION} (linux)`,
    };
    this.on("GET", "/_ping", (r, res) => {
      res.writeHead(200, { ...pingHeaders, "Content-Type": "text/plain; charset=utf-8", "Content-Length": 2 });
      res.end(r.method === "HEAD" ? undefined : "OK");
    });
    this.on("HEAD", "/_ping", (_r, res) => {
      res.writeHead(200, { ...pingHeaders, "Content-Type": "text/plain; charset=utf-8", "Content-Length": 0 });
      res.end();
    });

    this.on("GET", "/version", (_r, res) => {
      const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: "gantry", GoVersion: process.version, Os: "linux", Arch: goArch(), KernelVersion: release(), BuildTime: "" };
      sendJson(res, 200, {
        Platform: { Name: "Gantry Engine" },
        Components: [{ Name: "Engine", Version: GANTRY_VERSION, Details: { ...details, Runtime: "gantry-runtime" } }],
        Version: GANTRY_VERSION,
        ...details,
      });
    });

    this.on("GET", "/info", (_r, res) => {
      const all = e.containers.all();
      const count = (s: string) => all.filter((c) => c.State.Status === s).length;
      sendJson(res, 200, {
        ID: "gantry",
        Containers: all.length,
        ContainersRunning: count("running"),
        ContainersPaused: count("paused"),
        ContainersStopped: all.length - count("running") - count("paused"),
        Images: listImages(e.images).length,
        Driver: "overlay2",
        DriverStatus: [],
        CgroupDriver: "cgroupfs",
        CgroupVersion: String(e.host.cgroupVersion),
        MemoryLimit: true,
        SwapLimit: e.host.swapLimit,
        CpuCfsPeriod: true,
        CpuCfsQuota: true,
        CPUShares: true,
        CPUSet: true,
        PidsLimit: true,
        OomKillDisable: e.host.cgroupVersion === 1,
        KernelVersion: release(),
        OperatingSystem: "Linux",
        OSType: "linux",
        Architecture: arch() === "x64" ? "x86_64" : arch(),
        NCPU: cpus().length,
        MemTotal: hostMemTotal(),
        DockerRootDir: e.opts.root,
        Name: hostname(),
        ServerVersion: GANTRY_VERSION,
        Runtimes: { [e.runtime.name]: { path: e.runtime.name === "gantry" ? "gantry-runtime" : e.runtime.name } },
        DefaultRuntime: e.runtime.name,
        Swarm: { LocalNodeState: "inactive", NodeID: "", NodeAddr: "", ControlAvailable: false, Error: "", RemoteManagers: null },
        SecurityOptions: ["name=seccomp,profile=builtin"],
        Plugins: { Volume: [], Network: ["none", "host"], Log: ["json-file"] },
        LoggingDriver: "json-file",
        RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ["127.0.0.0/8"] },
        Labels: [],
        ExperimentalBuild: false,
        LiveRestoreEnabled: true,
        Warnings: [],
      });
    });

    // ---- containers ----
    this.on("GET", "/containers/json", (r, res) => {
      const all = boolParam(r.query, "all");
      const filters = filtersParam(r.query);
      let list = e.containers.all().filter((c) => all || c.State.Status === "running" || c.State.Status === "paused" || c.State.Status === "restarting" || Object.keys(filters).some((k) => k === "status" || k === "exited"));
      list = list.filter((c) => matchesPsFilters(e, c, filters));
      const limit = intParam(r.query, "limit");
      if (limit !== undefined && limit > 0) list = list.slice(0, limit);
      sendJson(res, 200, list.map((c) => containerSummary(e, c)));
    });

    this.on("POST", "/containers/create", async (r, res) => {
      const body = await readJson<CreateBody>(r.raw, true);
      const name = r.query.get("name") || undefined;
      const created = await e.createContainer(name, body as CreateBody);
      sendJson(res, 201, created);
    });

    this.on("POST", "/containers/prune", async (_r, res) => sendJson(res, 200, await e.prune()));

    this.on("GET", `/containers/${ID}/json`, (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      sendJson(res, 200, inspectContainer(e, rec, this.execs.forContainer(rec.Id), r.apiVersion));
    });

    const noContent = (res: ServerResponse, status = 204) => {
      res.writeHead(status);
      res.end();
    };

    this.on("POST", `/containers/${ID}/start`, async (_r, res, m) => {
      const rec = e.containers.get(m[1]!);
      if (rec.State.Status === "running" || rec.State.Status === "paused") return noContent(res, 304);
      await e.start(rec.Id);
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/stop`, async (r, res, m) => {
      const stopped = await e.stop(m[1]!, intParam(r.query, "t") ?? intParam(r.query, "timeout"), r.query.get("signal") || undefined);
      noContent(res, stopped ? 204 : 304);
    });
    this.on("POST", `/containers/${ID}/restart`, async (r, res, m) => {
      await e.restart(m[1]!, intParam(r.query, "t") ?? intParam(r.query, "timeout"), r.query.get("signal") || undefined);
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/kill`, async (r, res, m) => {
      await e.kill(m[1]!, r.query.get("signal") || "SIGKILL");
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/pause`, async (_r, res, m) => {
      await e.pause(m[1]!);
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/unpause`, async (_r, res, m) => {
      await e.unpause(m[1]!);
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/rename`, (r, res, m) => {
      e.rename(m[1]!, r.query.get("name") ?? "");
      noContent(res);
    });
    this.on("DELETE", `/containers/${ID}`, async (r, res, m) => {
      await e.removeContainer(m[1]!, { force: boolParam(r.query, "force"), volumes: boolParam(r.query, "v") });
      noContent(res);
    });
    this.on("POST", `/containers/${ID}/resize`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      if (rec.State.Status !== "running" && rec.State.Status !== "paused") throw new GantryError("CONFLICT", `Container ${rec.Id} is not running`);
      const sock = await connectMonitor(e.attachSocket(rec.Id));
      // The program may be exiting (docker run -t resizes right after start): a reset
      // connection is no daemon error.
      sock.on("error", () => sock.destroy());
      sendResize(sock, intParam(r.query, "h") ?? 24, intParam(r.query, "w") ?? 80);
      sock.end();
      noContent(res, 200);
    });

    this.on("POST", `/containers/${ID}/wait`, async (r, res, m) => {
      const cond = (r.query.get("condition") || "not-running") as WaitCondition;
      if (!["not-running", "next-exit", "removed"].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
      const w = e.waitFor(m[1]!, cond);
      // Docker flushes the headers at once and sends the body when the condition is met.
      res.writeHead(200, { "Content-Type": "application/json" });
      res.flushHeaders();
      res.on("close", () => w.cancel());
      const result = await w.promise;
      res.end(`${JSON.stringify(result)}\n`);
    });

    this.on("GET", `/containers/${ID}/logs`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      const stdout = boolParam(r.query, "stdout");
      const stderr = boolParam(r.query, "stderr");
      if (!stdout && !stderr) throw invalidArgument("Bad parameters: you must choose at least one stream");
      const tailText = r.query.get("tail");
      const tail = !tailText || tailText === "all" ? undefined : Number(tailText);
      if (tail !== undefined && !Number.isFinite(tail)) throw invalidArgument(`invalid tail value ${tailText}`);
      const since = r.query.get("since");
      const until = r.query.get("until");
      res.writeHead(200, { "Content-Type": rec.Config.Tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream" });
      res.flushHeaders();
      await streamLogs(
        rec.LogPath,
        {
          stdout,
          stderr,
          follow: boolParam(r.query, "follow"),
          tail: tail !== undefined && tail < 0 ? undefined : tail,
          sinceSec: since && Number(since) !== 0 ? Number(since) : undefined,
          untilSec: until && Number(until) !== 0 ? Number(until) : undefined,
          timestamps: boolParam(r.query, "timestamps"),
          tty: !!rec.Config.Tty,
        },
        res,
        () => {
          const cur = e.containers.find(rec.Id);
          return !!cur && (cur.State.Status === "running" || cur.State.Status === "paused" || cur.State.Status === "restarting");
        },
      );
      res.end();
    });

    this.on("GET", `/containers/${ID}/top`, (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      if (rec.State.Status !== "running" && rec.State.Status !== "paused") throw new GantryError("CONFLICT", `Container ${rec.Id} is not running`);
      sendJson(res, 200, topOf(e.runtime.pids(rec.Id), r.query.get("ps_args") ?? undefined));
    });

    this.on("GET", `/containers/${ID}/stats`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      const stream = boolParam(r.query, "stream", true);
      const oneShot = boolParam(r.query, "one-shot");
      const sample = () => {
        try {
          return e.runtime.stats(rec.Id);
        } catch {
          return undefined;
        }
      };
      const empty = { read: "0001-01-01T00:00:00Z", preread: "0001-01-01T00:00:00Z", id: rec.Id, name: rec.Name, pids_stats: {}, blkio_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, precpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, memory_stats: {}, networks: {} };
      let pre: ReturnType<typeof dockerStats> | undefined;
      const next = () => {
        const s = sample();
        if (!s) return empty;
        const d = dockerStats(rec, s, pre, e.host.cgroupVersion);
        pre = d;
        return d;
      };
      if (!stream) {
        let first = next();
        if (!oneShot && first !== empty) {
          // Docker samples twice so precpu_stats is filled and the CLI can compute CPU %.
          await new Promise((x) => setTimeout(x, 500));
          first = next();
        }
        return sendJson(res, 200, first);
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      let closed = false;
      res.on("close", () => (closed = true));
      while (!closed) {
        res.write(`${JSON.stringify(next())}\n`);
        const cur = e.containers.find(rec.Id);
        if (!cur || (cur.State.Status !== "running" && cur.State.Status !== "paused")) break;
        await new Promise((x) => setTimeout(x, 1000));
      }
      res.end();
    });

    this.on("GET", `/containers/${ID}/changes`, (_r, res, m) => {
      const rec = e.containers.get(m[1]!);
      const dir = `${e.images.root}/containers/${rec.Id}`;
      sendJson(res, 200, changesOf(`${dir}/upper`, []).filter((c) => !["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev", "/proc", "/sys"].includes(c.Path)));
    });

    // docker export: the container's merged filesystem as one tar stream.
    this.on("GET", `/containers/${ID}/export`, async (_r, res, m) => {
      const rec = e.containers.get(m[1]!);
      res.writeHead(200, { "Content-Type": "application/x-tar" });
      await exportFilesystem(e.mountedRootfs(rec), res);
      res.end();
    });

    this.on("HEAD", `/containers/${ID}/archive`, (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      const stat = statArchive(e.mountedRootfs(rec), r.query.get("path") ?? "");
      res.writeHead(200, { "X-Docker-Container-Path-Stat": Buffer.from(JSON.stringify(stat)).toString("base64"), "Content-Type": "application/json" });
      res.end();
    });
    this.on("GET", `/containers/${ID}/archive`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      await getArchive(e.mountedRootfs(rec), r.query.get("path") ?? "", res);
    });
    this.on("PUT", `/containers/${ID}/archive`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      await putArchive(e.mountedRootfs(rec), r.query.get("path") ?? "", r.raw);
      noContent(res, 200);
    });

    this.on("POST", `/containers/${ID}/exec`, async (r, res, m) => {
      const rec = e.containers.get(m[1]!);
      const body = (await readJson<ExecConfig>(r.raw, true)) as ExecConfig;
      const ex = this.execs.create(rec, body);
      sendJson(res, 201, { Id: ex.ID });
    });
    this.on("GET", `/exec/${ID}/json`, (_r, res, m) => {
      const ex = this.execs.get(m[1]!);
      sendJson(res, 200, {
        ID: ex.ID,
        Running: ex.Running,
        ExitCode: ex.ExitCode,
        ProcessConfig: { tty: !!ex.Config.Tty, entrypoint: ex.Config.Cmd?.[0] ?? "", arguments: ex.Config.Cmd?.slice(1) ?? [], privileged: !!ex.Config.Privileged, user: ex.Config.User ?? "" },
        OpenStdin: !!ex.Config.AttachStdin,
        OpenStderr: ex.Config.AttachStderr !== false,
        OpenStdout: ex.Config.AttachStdout !== false,
        CanRemove: false,
        ContainerID: ex.ContainerID,
        DetachKeys: "",
        Pid: ex.Pid,
      });
    });
    this.on("POST", `/exec/${ID}/resize`, (r, res, m) => {
      this.execs.resize(m[1]!, intParam(r.query, "h") ?? 24, intParam(r.query, "w") ?? 80);
      noContent(res, 200);
    });

    this.streamRoutes.push({
      re: new RegExp(`^/exec/${ID}/start$`),
      handler: async (_r, client, m, begin, body) => {
        const ex = this.execs.get(m[1]!);
        let opts: { Detach?: boolean; Tty?: boolean } = {};
        if (body.length) {
          try {
            opts = JSON.parse(body.toString()) as typeof opts;
          } catch (err) {
            throw invalidArgument(`malformed JSON in the request body: ${(err as Error).message}`);
          }
        }
        const rec = e.containers.get(ex.ContainerID);
        if (opts.Detach) {
          void this.execs.start(ex, rec, undefined).catch(() => {});
          return;
        }
        begin(!!(opts.Tty ?? ex.Config.Tty));
        await this.execs.start(ex, rec, client);
      },
    });

    this.streamRoutes.push({
      re: new RegExp(`^/containers/${ID}/attach$`),
      handler: async (r, client, m, begin) => {
        const rec = e.containers.get(m[1]!);
        const opts = {
          stdin: boolParam(r.query, "stdin"),
          stdout: boolParam(r.query, "stdout"),
          stderr: boolParam(r.query, "stderr"),
          tty: !!rec.Config.Tty,
          stdinOnce: !!rec.Config.StdinOnce,
          detachKeys: parseDetachKeys(r.query.get("detachKeys") ?? undefined),
        };
        if (!boolParam(r.query, "stream") && boolParam(r.query, "logs")) {
          begin(opts.tty);
          client.end();
          return;
        }
        if (rec.State.Status === "running" || rec.State.Status === "paused") {
          const sock = await connectMonitor(e.attachSocket(rec.Id));
          begin(opts.tty);
          await relayAttach(sock, client, opts);
          return;
        }
        // Not started yet (docker run attaches before start): connect once the monitor exists.
        begin(opts.tty);
        await new Promise<void>((resolve) => {
          const remove = e.addPreStart(
            rec.Id,
            async (path) => {
              const sock = await connectMonitor(path);
              void relayAttach(sock, client, opts).then(resolve);
            },
            () => {
              client.end();
              resolve();
            },
          );
          client.onClose(() => {
            remove();
            resolve();
          });
        });
      },
    });

    this.on("GET", "/events", async (r, res) => {
      const filters = filtersParam(r.query);
      const since = r.query.get("since");
      const until = r.query.get("until");
      const untilSec = until ? Number(until) : undefined;
      res.writeHead(200, { "Content-Type": "application/json" });
      res.flushHeaders();
      if (since) for (const ev of e.events.history(Number(since), untilSec)) if (matchesFilters(ev, filters)) res.write(`${JSON.stringify(ev)}\n`);
      if (untilSec !== undefined && untilSec <= Date.now() / 1000) return void res.end();
      await new Promise<void>((resolve) => {
        const onEvent = (ev: Parameters<typeof matchesFilters>[0]) => {
          if (matchesFilters(ev, filters)) res.write(`${JSON.stringify(ev)}\n`);
        };
        e.events.on("event", onEvent);
        const timer = untilSec !== undefined ? setTimeout(() => res.end(), untilSec * 1000 - Date.now()) : undefined;
        res.on("close", () => {
          e.events.off("event", onEvent);
          if (timer) clearTimeout(timer);
          resolve();
        });
      });
    });

    registerImageRoutes(this, e);

    // ---- networks and volumes: what `docker system prune` and `inspect` fall through to ----
    const nets = () => {
      if (!e.networks) throw new GantryError("UNSUPPORTED_OPTION", "bridge networking is unavailable on this daemon");
      return e.networks;
    };
    this.on("GET", "/networks", (_r, res) => {
      const list = e.networks ? e.networks.list().map((n) => toDockerNetwork(n, e.networks!.inspect(n.id).endpoints)) : [];
      sendJson(res, 200, [...list, ...["none", "host"].map((n) => ({ Name: n, Id: n, Driver: n === "host" ? "host" : "null", Scope: "local", Containers: {}, Options: {}, Labels: {} }))]);
    });
    this.on("POST", "/networks/create", async (r, res) => {
      const body = await readJson<DockerNetworkCreateBody>(r.raw, true);
      const n = await nets().create(fromDockerNetworkCreate(body as DockerNetworkCreateBody));
      sendJson(res, 201, { Id: n.id, Warning: "" });
    });
    this.on("GET", `/networks/${ID}`, (_r, res, m) => {
      if (!e.networks) throw notFound(`network ${m[1]} not found`);
      const { network, endpoints } = e.networks.inspect(decodeURIComponent(m[1]!));
      sendJson(res, 200, toDockerNetwork(network, endpoints));
    });
    this.on("DELETE", `/networks/${ID}`, async (_r, res, m) => {
      await nets().remove(decodeURIComponent(m[1]!));
      noContent(res);
    });
    this.on("POST", "/networks/prune", async (_r, res) => sendJson(res, 200, { NetworksDeleted: e.networks ? await e.networks.prune({}) : [] }));
    this.on("GET", "/volumes", (_r, res) => sendJson(res, 200, { Volumes: e.volumes.list().map(toDockerVolume), Warnings: [] }));
    this.on("POST", "/volumes/create", async (r, res) => {
      const body = await readJson<Parameters<typeof fromDockerVolumeCreate>[0]>(r.raw, true);
      sendJson(res, 201, toDockerVolume(await e.volumes.create(fromDockerVolumeCreate(body as Parameters<typeof fromDockerVolumeCreate>[0]))));
    });
    this.on("GET", `/volumes/${ID}`, (_r, res, m) => sendJson(res, 200, toDockerVolume(e.volumes.inspect(decodeURIComponent(m[1]!)))));
    this.on("DELETE", `/volumes/${ID}`, async (r, res, m) => {
      await e.volumes.remove(decodeURIComponent(m[1]!), boolParam(r.query, "force"));
      noContent(res);
    });
    this.on("POST", "/volumes/prune", async (r, res) => {
      const f = filtersParam(r.query);
      const out = await e.volumes.prune({ all: (f.all ?? []).some((v) => v === "true" || v === "1") });
      sendJson(res, 200, { VolumesDeleted: out.removed, SpaceReclaimed: out.reclaimedBytes });
    });
    this.on("POST", "/build/prune", (_r, res) => sendJson(res, 200, { CachesDeleted: [], SpaceReclaimed: 0 }));
    this.on("GET", `/plugins/${ID}/json`, (_r, _res, m) => {
      throw notFound(`plugin "${m[1]}" not found`);
    });
  }
}

function rejectUpgrade(socket: Duplex, err: unknown): void {
  const status = err instanceof GantryError ? err.httpStatus : 500;
  const body = JSON.stringify({ message: err instanceof Error ? (err instanceof GantryError ? err.describe() : err.message) : String(err) });
  socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function goArch(): string {
  const a = arch();
  return a === "x64" ? "amd64" : a;
}

export function socketExists(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isSocket();
  } catch {
    return false;
  }
}
