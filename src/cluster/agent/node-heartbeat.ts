// The node's presence in the API, as the kubelet keeps it: the Node is registered (or, when it
// exists, its labels and status brought up to date), its Lease in kube-node-lease is renewed
// every 10 s (holder the node, 40 s duration, owned by the Node so it goes with it), and its
// status — capacity, allocatable, conditions, addresses, nodeInfo — is posted when it
// changes, else every 5 minutes, as nodeStatusReportFrequency has it.
import type { Clock, Timer } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { isAlreadyExists, isConflict, isNotFound, type Client, type KubeObject } from "../client/index.ts";
import { LEASES, NODE_LEASE_NAMESPACE, NODES } from "./api-refs.ts";
import { readNodeFacts, type NodeFacts } from "./node-facts.ts";
import { newNode, nodeLabels, nodeStatus, stampConditions, type NodeCondition, type NodeIdentity, type Reserve } from "./node-object.ts";

export const LEASE_DURATION_SECONDS = 40;
export const RENEW_INTERVAL_MS = 10_000;
export const STATUS_REPORT_MS = 5 * 60_000;

/** MicroTime, as Lease.spec.renewTime is written: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export interface HeartbeatOptions {
  client: Client;
  identity: NodeIdentity;
  reserve: Reserve;
  clock: Clock;
  log: (m: string) => void;
  /** Facts of the host (tests pass fixed ones). */
  facts: () => NodeFacts;
}

export class NodeHeartbeat {
  private timer: Timer | undefined;
  private nodeUid = "";
  private lastPostedAt = 0;
  private busy = false;
  private registered: KubeObject | undefined;

  constructor(private readonly o: HeartbeatOptions) {}

  get nodeName(): string {
    return this.o.identity.name;
  }

  static defaultFacts(storageRoot: string, nodeIP?: string): () => NodeFacts {
    return () => readNodeFacts({ storageRoot, nodeIP });
  }

  /** Registers the Node (retrying until the API answers) and starts the beats. */
  async start(): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 7_000)) {
      try {
        await this.register();
        break;
      } catch (err) {
        this.o.log(`node ${this.nodeName}: registration failed: ${describeError(err)}; retrying in ${delay} ms`);
        await this.o.clock.sleep(delay);
      }
    }
    await this.beat();
    this.timer = this.o.clock.every(RENEW_INTERVAL_MS, () => void this.beat());
  }

  /** The Node's pod range as the API server allocated it at registration (undefined: none, the cluster CIDR is full). */
  get podCIDR(): string | undefined {
    const spec = (this.registered?.spec ?? {}) as { podCIDR?: string };
    return spec.podCIDR || undefined;
  }

  /** The kubelet server's port, known once it listens (after registration): posted with the status at once. */
  async setDaemonPort(port: number): Promise<void> {
    this.o.identity.daemonPort = port;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    await this.beat();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private nowIso(): string {
    return new Date(this.o.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
  }

  private async register(): Promise<void> {
    const nodes = this.o.client.resource(NODES);
    const facts = this.o.facts();
    try {
      const created = await nodes.create(undefined, newNode(facts, this.o.identity, this.o.reserve, this.nowIso()));
      this.nodeUid = created.metadata.uid ?? "";
      this.registered = created;
      this.o.log(`node ${this.nodeName}: registered`);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Known already (a restart): the labels it must carry are brought back, the status posted below.
      const patched = await nodes.patch(undefined, this.nodeName, "merge", { metadata: { labels: nodeLabels(facts, this.o.identity) } });
      this.nodeUid = patched.metadata.uid ?? "";
      this.registered = patched;
    }
    this.lastPostedAt = 0;
  }

  /** One beat: renew the lease, post the status if it changed or is due. */
  async beat(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.renewLease().catch((err: unknown) => this.o.log(`node ${this.nodeName}: lease renewal failed: ${describeError(err)}`));
      await this.postStatus().catch((err: unknown) => this.o.log(`node ${this.nodeName}: status update failed: ${describeError(err)}`));
    } finally {
      this.busy = false;
    }
  }

  private async renewLease(): Promise<void> {
    const leases = this.o.client.resource(LEASES);
    const spec = { holderIdentity: this.nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime(this.o.clock.now()) };
    const ownerReferences = [{ apiVersion: "v1", kind: "Node", name: this.nodeName, uid: this.nodeUid }];
    let current: KubeObject | undefined;
    try {
      current = await leases.get(NODE_LEASE_NAMESPACE, this.nodeName);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!current) {
      await leases.create(NODE_LEASE_NAMESPACE, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: this.nodeName, namespace: NODE_LEASE_NAMESPACE, ...(this.nodeUid ? { ownerReferences } : {}) }, spec });
      return;
    }
    const next = { ...current, metadata: { ...current.metadata, ...(this.nodeUid ? { ownerReferences } : {}) }, spec: { ...(current.spec as object), ...spec } };
    try {
      await leases.update(next);
    } catch (err) {
      if (!isConflict(err)) throw err; // someone else wrote it meanwhile: the next beat renews
    }
  }

  /** The status without times, to compare what the API holds with what the node would post. */
  private static fingerprint(status: Record<string, unknown>): string {
    const conditions = ((status.conditions as NodeCondition[] | undefined) ?? []).map(({ type, status: s, reason, message }) => ({ type, status: s, reason, message }));
    const { capacity, allocatable, addresses, nodeInfo, daemonEndpoints } = status;
    return JSON.stringify({ capacity, allocatable, addresses, nodeInfo, daemonEndpoints, conditions });
  }

  /**
   * Posts the status when what the API holds differs from it (another writer — the node
   * lifecycle controller marking it Unknown — counts too), or when the report is due.
   */
  private async postStatus(): Promise<void> {
    const status = nodeStatus(this.o.facts(), this.o.identity, this.o.reserve);
    let inApi: KubeObject;
    try {
      inApi = await this.o.client.resource(NODES).get(undefined, this.nodeName);
    } catch (err) {
      // The Node was deleted under us: register again, as the kubelet does after a restart.
      if (isNotFound(err)) await this.register();
      throw err;
    }
    const apiStatus = (inApi.status ?? {}) as Record<string, unknown>;
    const due = this.o.clock.now() - this.lastPostedAt >= STATUS_REPORT_MS;
    if (!due && NodeHeartbeat.fingerprint(apiStatus) === NodeHeartbeat.fingerprint(status)) return;
    const conditions = stampConditions(status.conditions as NodeCondition[], apiStatus.conditions as NodeCondition[] | undefined, this.nowIso());
    await this.o.client.resource(NODES).patch(undefined, this.nodeName, "merge", { status: { ...status, conditions } }, { subresource: "status" });
    this.lastPostedAt = this.o.clock.now();
  }
}
