// The flat pod network between nodes, as flannel's host-gw backend makes it: every other node's
// podCIDR is routed via that node's InternalIP, so a pod reaches a pod on another node by its
// own address, with no encapsulation and no NAT. Routes follow the Node objects the agent
// watches (a node that joins gets its route, one that leaves loses it); they carry their own
// route protocol number, so the agent lists and removes only routes it made. host-gw needs the
// nodes on one link: a node whose address is not directly reachable (or is this node's own) is
// skipped with a log line, as flannel refuses it.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Clock, Timer } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { Informer, type Client, type KubeObject } from "../client/index.ts";
import { NODES } from "./api-refs.ts";
import { compareStrings } from "../../common/compare.ts";

const run = promisify(execFile);
/** The route protocol that marks Gantry's pod routes (`ip route show proto 66`); an unassigned number in rt_protos. */
export const POD_ROUTE_PROTO = "66";
const RESYNC_MS = 30_000;

export interface PodRoute {
  /** Another node's podCIDR. */
  dst: string;
  /** That node's InternalIP. */
  via: string;
}

interface NodeShape extends KubeObject {
  spec?: { podCIDR?: string };
  status?: { addresses?: { type: string; address: string }[] };
}

/** The routes this node wants: every other node with a podCIDR and an InternalIP. */
export function desiredPodRoutes(nodes: readonly KubeObject[], self: string): PodRoute[] {
  const out: PodRoute[] = [];
  for (const n of nodes as readonly NodeShape[]) {
    const dst = n.spec?.podCIDR;
    const via = n.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    if (n.metadata.name !== self && dst && via) out.push({ dst, via });
  }
  return out.sort((a, b) => compareStrings(a.dst, b.dst));
}

/** What to change to get from the current routes to the desired ones. */
export function planPodRoutes(current: PodRoute[], desired: PodRoute[]): { replace: PodRoute[]; remove: PodRoute[] } {
  const now = new Map(current.map((r) => [r.dst, r.via]));
  const want = new Set(desired.map((r) => r.dst));
  return {
    replace: desired.filter((r) => now.get(r.dst) !== r.via),
    remove: current.filter((r) => !want.has(r.dst)),
  };
}

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run("ip", ["-j", ...args]);
  return JSON.parse(stdout || "[]") as T;
}

export class PodRoutes {
  private readonly informer: Informer<KubeObject>;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly skipped = new Set<string>();

  constructor(private readonly o: { client: Client; nodeName: string; clock: Clock; log: (m: string) => void }) {
    this.informer = new Informer<KubeObject>(o.client.resource<KubeObject>(NODES), { clock: o.clock, log: o.log });
    const kick = () => this.kick();
    this.informer.addHandlers({ onAdd: kick, onUpdate: kick, onDelete: kick });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.whenSynced();
    this.kick();
    this.timer = this.o.clock.every(RESYNC_MS, () => this.kick());
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    await this.informer.stop();
    await this.running;
  }

  /** Resolves once the routes match the Nodes seen so far (tests, start-up). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Syncs now, or once more after the sync under way (changes during it are not lost). */
  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sync()
      .catch((err: unknown) => this.o.log(`pod routes: ${describeError(err)}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async sync(): Promise<void> {
    const current = (await ipJson<{ dst: string; gateway?: string }[]>(["route", "show", "proto", POD_ROUTE_PROTO])).map((r) => ({ dst: r.dst, via: r.gateway ?? "" }));
    const desired: PodRoute[] = [];
    for (const r of desiredPodRoutes(this.informer.cache.list(), this.o.nodeName)) {
      if (await this.onLink(r)) desired.push(r);
    }
    const plan = planPodRoutes(current, desired);
    for (const r of plan.replace) {
      await run("ip", ["route", "replace", r.dst, "via", r.via, "proto", POD_ROUTE_PROTO]);
      this.o.log(`pod routes: ${r.dst} via ${r.via}`);
    }
    for (const r of plan.remove) {
      await run("ip", ["route", "del", r.dst, "proto", POD_ROUTE_PROTO]).catch(() => undefined);
      this.o.log(`pod routes: ${r.dst} removed`);
    }
  }

  /** host-gw's condition: the other node is a neighbour on a link, not this node and not behind a router. */
  private async onLink(r: PodRoute): Promise<boolean> {
    const got = await ipJson<{ type?: string; gateway?: string }[]>(["route", "get", r.via]).catch(() => []);
    const ok = got.length > 0 && got[0]!.type !== "local" && !got[0]!.gateway;
    const key = `${r.dst} via ${r.via}`;
    if (!ok && !this.skipped.has(key)) this.o.log(`pod routes: ${key} skipped: ${r.via} is ${got[0]?.type === "local" ? "this node's own address" : "not on a link of this node"} (host-gw routes need the nodes on one network)`);
    if (!ok) this.skipped.add(key);
    return ok;
  }
}
