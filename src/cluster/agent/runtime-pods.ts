// The pods as the engine holds them: every engine container the agent made carries
// dockershim's labels (pod name, namespace and uid, container name — "POD" for the
// sandbox — and type) plus the attempt, so the agent's view of what runs is read back from
// the engine alone. That is what lets a restarted agent adopt its pods: nothing about them
// lives only in the agent's memory.
import type { ContainerRecord, Engine } from "../../engine/index.ts";
import { compareStrings } from "../../common/compare.ts";

export const LABEL_POD_NAME = "io.kubernetes.pod.name";
export const LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace";
export const LABEL_POD_UID = "io.kubernetes.pod.uid";
export const LABEL_CONTAINER_NAME = "io.kubernetes.container.name";
/** "podsandbox" or "container", as dockershim labelled them. */
export const LABEL_TYPE = "io.kubernetes.docker.type";
/** The attempt (0 for the first run, then one more per restart): restartCount comes from it. */
export const LABEL_ATTEMPT = "io.kubernetes.container.attempt";
/** "true" on init containers. */
export const LABEL_INIT = "io.kubernetes.container.init";
/** The pod's grace period when the container was made: an orphan (its pod gone from the API) is stopped with it. */
export const LABEL_GRACE = "io.kubernetes.pod.terminationGracePeriod";
export const LABEL_SANDBOX_ID = "io.kubernetes.sandbox.id";

export const SANDBOX_NAME = "POD";

export interface RuntimeContainer {
  id: string;
  /** The pod spec's container name, or "POD" for the sandbox. */
  name: string;
  attempt: number;
  init: boolean;
  record: ContainerRecord;
}

export interface RuntimePod {
  uid: string;
  name: string;
  namespace: string;
  /** Every sandbox the pod had, newest first. */
  sandboxes: RuntimeContainer[];
  /** Containers by name, newest attempt first. */
  containers: Map<string, RuntimeContainer[]>;
  graceSeconds: number;
}

/** "k8s_<container>_<pod>_<namespace>_<uid>_<attempt>": dockershim's names, so `docker ps` on the node reads as it did. */
export function engineName(container: string, pod: { name: string; namespace: string; uid: string }, attempt: number): string {
  return `k8s_${container}_${pod.name}_${pod.namespace}_${pod.uid}_${attempt}`;
}

function toRuntimeContainer(rec: ContainerRecord): RuntimeContainer | undefined {
  const l = rec.Config.Labels ?? {};
  const name = l[LABEL_CONTAINER_NAME];
  if (!l[LABEL_POD_UID] || !name) return undefined;
  return { id: rec.Id, name, attempt: Number(l[LABEL_ATTEMPT] ?? 0) || 0, init: l[LABEL_INIT] === "true", record: rec };
}

const newestFirst = (a: RuntimeContainer, b: RuntimeContainer) => b.attempt - a.attempt || compareStrings(b.record.Created, a.record.Created);

/** Every pod the engine has containers of, by uid. */
export function runtimePods(engine: Engine): Map<string, RuntimePod> {
  const pods = new Map<string, RuntimePod>();
  for (const rec of engine.containers.all()) {
    const c = toRuntimeContainer(rec);
    if (!c) continue;
    const l = rec.Config.Labels ?? {};
    const uid = l[LABEL_POD_UID]!;
    let pod = pods.get(uid);
    if (!pod) {
      pod = { uid, name: l[LABEL_POD_NAME] ?? "", namespace: l[LABEL_POD_NAMESPACE] ?? "", sandboxes: [], containers: new Map(), graceSeconds: Number(l[LABEL_GRACE] ?? 30) };
      pods.set(uid, pod);
    }
    if (l[LABEL_TYPE] === "podsandbox") pod.sandboxes.push(c);
    else {
      const list = pod.containers.get(c.name) ?? [];
      list.push(c);
      pod.containers.set(c.name, list);
    }
  }
  for (const pod of pods.values()) {
    pod.sandboxes.sort(newestFirst);
    for (const list of pod.containers.values()) list.sort(newestFirst);
  }
  return pods;
}

export const isRunning = (c: RuntimeContainer | undefined): boolean => !!c && (c.record.State.Status === "running" || c.record.State.Status === "paused");
export const hasExited = (c: RuntimeContainer | undefined): boolean => !!c && (c.record.State.Status === "exited" || c.record.State.Status === "dead" || (c.record.State.Status === "created" && !!c.record.State.Error));
