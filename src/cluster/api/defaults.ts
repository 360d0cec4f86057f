// Defaulting, as Kubernetes' SetDefaults_* functions do for the fields clients read back
// (kubectl rollout status needs DaemonSet's updateStrategy, describe shows strategy, ...).
import { isPlainObject, type KubeObject } from "./objects.ts";

type Obj = Record<string, unknown>;

const obj = (parent: Obj, key: string): Obj => {
  if (!isPlainObject(parent[key])) parent[key] = {};
  return parent[key] as Obj;
};
const dflt = (o: Obj, key: string, value: unknown) => {
  if (o[key] === undefined || o[key] === null) o[key] = value;
};

function defaultContainer(c: Obj) {
  const image = typeof c.image === "string" ? c.image : "";
  const tagged = /:[^/]+$/.test(image.replace(/@.*$/, "")) || image.includes("@");
  dflt(c, "imagePullPolicy", !tagged || image.endsWith(":latest") ? "Always" : "IfNotPresent");
  dflt(c, "terminationMessagePath", "/dev/termination-log");
  dflt(c, "terminationMessagePolicy", "File");
  if (!isPlainObject(c.resources)) c.resources = {};
  for (const p of Array.isArray(c.ports) ? c.ports : []) if (isPlainObject(p)) dflt(p, "protocol", "TCP");
}

export function defaultPodSpec(spec: Obj) {
  dflt(spec, "restartPolicy", "Always");
  dflt(spec, "dnsPolicy", "ClusterFirst");
  dflt(spec, "schedulerName", "default-scheduler");
  dflt(spec, "terminationGracePeriodSeconds", 30);
  dflt(spec, "securityContext", {});
  for (const list of ["containers", "initContainers"]) {
    for (const c of Array.isArray(spec[list]) ? (spec[list] as unknown[]) : []) if (isPlainObject(c)) defaultContainer(c);
  }
}

function defaultTemplate(spec: Obj) {
  const template = obj(spec, "template");
  obj(template, "metadata");
  defaultPodSpec(obj(template, "spec"));
}

const defaulters: Record<string, (o: KubeObject) => void> = {
  Namespace(o) {
    o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name ?? "" };
    const spec = obj(o, "spec");
    dflt(spec, "finalizers", ["kubernetes"]);
    dflt(obj(o, "status"), "phase", "Active");
  },
  Pod(o) {
    defaultPodSpec(obj(o, "spec"));
    const status = obj(o, "status");
    dflt(status, "phase", "Pending");
    dflt(status, "qosClass", "BestEffort");
  },
  Service(o) {
    const spec = obj(o, "spec");
    dflt(spec, "type", "ClusterIP");
    dflt(spec, "sessionAffinity", "None");
    dflt(spec, "ipFamilyPolicy", "SingleStack");
    dflt(spec, "ipFamilies", ["IPv4"]);
    dflt(spec, "internalTrafficPolicy", "Cluster");
    for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isPlainObject(p)) continue;
      dflt(p, "protocol", "TCP");
      dflt(p, "targetPort", p.port);
    }
    obj(obj(o, "status"), "loadBalancer");
  },
  Secret(o) {
    dflt(o, "type", "Opaque");
  },
  PersistentVolume(o) {
    const spec = obj(o, "spec");
    dflt(spec, "persistentVolumeReclaimPolicy", "Retain");
    dflt(spec, "volumeMode", "Filesystem");
    dflt(obj(o, "status"), "phase", "Pending");
  },
  PersistentVolumeClaim(o) {
    dflt(obj(o, "spec"), "volumeMode", "Filesystem");
    dflt(obj(o, "status"), "phase", "Pending");
  },
  Deployment(o) {
    const spec = obj(o, "spec");
    dflt(spec, "replicas", 1);
    const strategy = obj(spec, "strategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") {
      const ru = obj(strategy, "rollingUpdate");
      dflt(ru, "maxUnavailable", "25%");
      dflt(ru, "maxSurge", "25%");
    }
    dflt(spec, "revisionHistoryLimit", 10);
    dflt(spec, "progressDeadlineSeconds", 600);
    defaultTemplate(spec);
  },
  ReplicaSet(o) {
    const spec = obj(o, "spec");
    dflt(spec, "replicas", 1);
    defaultTemplate(spec);
  },
  DaemonSet(o) {
    const spec = obj(o, "spec");
    const strategy = obj(spec, "updateStrategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") {
      const ru = obj(strategy, "rollingUpdate");
      dflt(ru, "maxUnavailable", 1);
      dflt(ru, "maxSurge", 0);
    }
    dflt(spec, "revisionHistoryLimit", 10);
    defaultTemplate(spec);
  },
  StatefulSet(o) {
    const spec = obj(o, "spec");
    dflt(spec, "replicas", 1);
    dflt(spec, "podManagementPolicy", "OrderedReady");
    const strategy = obj(spec, "updateStrategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") dflt(obj(strategy, "rollingUpdate"), "partition", 0);
    dflt(spec, "revisionHistoryLimit", 10);
    dflt(spec, "persistentVolumeClaimRetentionPolicy", { whenDeleted: "Retain", whenScaled: "Retain" });
    defaultTemplate(spec);
  },
  Job(o) {
    const spec = obj(o, "spec");
    dflt(spec, "parallelism", 1);
    dflt(spec, "completions", 1);
    dflt(spec, "backoffLimit", 6);
    dflt(spec, "completionMode", "NonIndexed");
    dflt(spec, "suspend", false);
    defaultTemplate(spec);
    // The Job controller owns its pods through a selector on the Job's uid, generated here
    // as the real server does unless manualSelector is set.
    if (spec.manualSelector !== true && o.metadata.uid) {
      const uidLabels = { "batch.kubernetes.io/controller-uid": o.metadata.uid, "controller-uid": o.metadata.uid };
      const jobName = { "batch.kubernetes.io/job-name": o.metadata.name ?? "", "job-name": o.metadata.name ?? "" };
      if (!isPlainObject(spec.selector)) spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": o.metadata.uid } };
      const tmeta = obj(obj(spec, "template"), "metadata");
      tmeta.labels = { ...uidLabels, ...jobName, ...(isPlainObject(tmeta.labels) ? tmeta.labels : {}) };
    }
  },
  CronJob(o) {
    const spec = obj(o, "spec");
    dflt(spec, "concurrencyPolicy", "Allow");
    dflt(spec, "suspend", false);
    dflt(spec, "successfulJobsHistoryLimit", 3);
    dflt(spec, "failedJobsHistoryLimit", 1);
    const jobSpec = obj(obj(spec, "jobTemplate"), "spec");
    defaultTemplate(jobSpec);
  },
  NetworkPolicy(o) {
    const spec = obj(o, "spec");
    obj(spec, "podSelector");
    if (!Array.isArray(spec.policyTypes)) {
      spec.policyTypes = Array.isArray(spec.egress) ? ["Ingress", "Egress"] : ["Ingress"];
    }
  },
  ServiceAccount() {},
  Node(o) {
    obj(o, "spec");
  },
};

/** Fills in defaults in place. */
export function applyDefaults(kind: string, o: KubeObject): void {
  defaulters[kind]?.(o);
}
