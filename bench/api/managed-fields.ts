// What managedFields bookkeeping (recordUpdate) costs the two writes every scheduled pod gets
// from its client: the create, and the node's status write that makes it Running (the shape
// of the scheduler bench's pods after admission: service-account volume, default tolerations).
//   node --import tsx bench/api/managed-fields.ts [--writes 3000] [--rounds 7]
// Prints the median over rounds of microseconds per pod for each write. A/B: run it in a
// scratch worktree of the old commit too, alternating.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { recordUpdate } from "../../src/cluster/api/managed-fields.ts";
import type { KubeObject } from "../../src/cluster/api/objects.ts";

const { values } = parseArgs({ options: { writes: { type: "string", default: "3000" }, rounds: { type: "string", default: "7" } } });
const WRITES = Number(values.writes);
const ROUNDS = Number(values.rounds);
const at = "2026-01-01T00:00:00Z";
const created = (): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "bench-1", namespace: "default", uid: "u", resourceVersion: "5", creationTimestamp: at, labels: { app: "bench" } },
  spec: {
    containers: [
      {
        name: "app",
        image: "registry.example/app:1.0",
        imagePullPolicy: "IfNotPresent",
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
        resources: { requests: { cpu: "100m", memory: "128Mi" } },
        volumeMounts: [{ name: "kube-api-access-abcde", readOnly: true, mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" }],
      },
    ],
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    dnsPolicy: "ClusterFirst",
    serviceAccountName: "default",
    serviceAccount: "default",
    securityContext: {},
    schedulerName: "default-scheduler",
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: "PreemptLowerPriority",
    tolerations: ["not-ready", "unreachable"].map((t) => ({ key: `node.kubernetes.io/${t}`, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 })),
    volumes: [
      {
        name: "kube-api-access-abcde",
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
          ],
        },
      },
    ],
  },
  status: { phase: "Pending", qosClass: "Burstable", conditions: [{ type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: at }] },
});
const running = (bound: KubeObject): KubeObject => ({
  ...bound,
  status: {
    ...(bound.status as object),
    phase: "Running",
    podIP: "10.64.0.2",
    podIPs: [{ ip: "10.64.0.2" }],
    hostIP: "10.250.0.2",
    hostIPs: [{ ip: "10.250.0.2" }],
    startTime: at,
    conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: at })),
    containerStatuses: [{ name: "app", ready: true, started: true, restartCount: 0, image: "registry.example/app:1.0", imageID: "x", containerID: "hollow://x", state: { running: { startedAt: at } } }],
  },
});

function round(): { create: number; status: number } {
  let create = 0;
  let status = 0;
  for (let i = 0; i < WRITES; i++) {
    const pod = created();
    let t = performance.now();
    recordUpdate(undefined, pod, "bench", "v1");
    create += performance.now() - t;
    const bound = structuredClone(pod);
    (bound.spec as { nodeName?: string }).nodeName = "hollow-1";
    const next = running(structuredClone(bound));
    t = performance.now();
    recordUpdate(bound, next, "hollow", "v1", "status");
    status += performance.now() - t;
  }
  return { create: (1000 * create) / WRITES, status: (1000 * status) / WRITES };
}

round(); // warm-up
const rounds = Array.from({ length: ROUNDS }, round);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`recordUpdate per pod, median of ${ROUNDS} rounds of ${WRITES}: create ${median(rounds.map((r) => r.create)).toFixed(1)} us, status write ${median(rounds.map((r) => r.status)).toFixed(1)} us (load ${loadavg()[0]!.toFixed(2)})`);
