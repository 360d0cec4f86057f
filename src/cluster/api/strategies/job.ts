// Job: counts default to 1/1 with backoffLimit 6, and the selector on the Job's own uid
// (generated here, as the real server does, unless manualSelector is set).
import { ageColumn, arr, nameColumn, num, POD_TEMPLATE_CONTAINERS, spec, status, workloadWide } from "../columns.ts";
import { humanAge, isPlainObject, type KubeObject } from "../objects.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, templateSpec, validatePodSpec } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

/** printJob's STATUS: the first of these that holds (a condition counts when True). */
function jobStatusCell(o: KubeObject): string {
  const holds = (type: string) => arr(status(o).conditions).some((c) => c.type === type && c.status === "True");
  if (holds("Complete")) return "Complete";
  if (holds("Failed")) return "Failed";
  if (o.metadata.deletionTimestamp) return "Terminating";
  if (holds("Suspended")) return "Suspended";
  if (holds("FailureTarget")) return "FailureTarget";
  if (holds("SuccessCriteriaMet")) return "SuccessCriteriaMet";
  return "Running";
}

/** printJob's COMPLETIONS: succeeded/completions, or for a work-queue Job "n/1 of parallelism". */
function completionsCell(o: KubeObject): string {
  const succeeded = num(status(o).succeeded);
  const completions = spec(o).completions;
  if (completions !== undefined && completions !== null) return `${succeeded}/${completions}`;
  const parallelism = Number(spec(o).parallelism ?? 0);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

export const jobStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    // SetDefaults_Job: completions defaults to 1 only when parallelism is unset too; with
    // parallelism alone it stays unset (a work-queue Job, done when one pod succeeds).
    if (s.completions === undefined && s.parallelism === undefined) s.completions = 1;
    dflt(s, "parallelism", 1);
    dflt(s, "backoffLimit", 6);
    dflt(s, "completionMode", "NonIndexed");
    dflt(s, "suspend", false);
    dflt(s, "podReplacementPolicy", "TerminatingOrFailed");
    defaultTemplate(s);
    if (s.manualSelector !== true && o.metadata.uid) {
      const uidLabels = { "batch.kubernetes.io/controller-uid": o.metadata.uid, "controller-uid": o.metadata.uid };
      const jobName = { "batch.kubernetes.io/job-name": o.metadata.name ?? "", "job-name": o.metadata.name ?? "" };
      if (!isPlainObject(s.selector)) s.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": o.metadata.uid } };
      const tmeta = obj(obj(s, "template"), "metadata");
      tmeta.labels = { ...uidLabels, ...jobName, ...(isPlainObject(tmeta.labels) ? tmeta.labels : {}) };
    }
  },
  validate(c, o) {
    const s = specOf(o);
    validatePodSpec(c, "spec.template.spec", templateSpec(s), ["OnFailure", "Never"]);
    for (const f of ["parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"]) {
      const v = s[f];
      if (v !== undefined && v !== null && (typeof v !== "number" || v < 0)) c.invalid(`spec.${f}`, v, "must be greater than or equal to 0");
    }
    const deadline = s.activeDeadlineSeconds;
    if (deadline !== undefined && deadline !== null && (typeof deadline !== "number" || deadline <= 0)) c.invalid("spec.activeDeadlineSeconds", deadline, "must be greater than 0");
    if (s.completionMode === "Indexed" && (s.completions === undefined || s.completions === null)) c.required("spec.completions");
    if (s.completionMode !== undefined && s.completionMode !== "NonIndexed" && s.completionMode !== "Indexed") c.unsupported("spec.completionMode", s.completionMode, ["NonIndexed", "Indexed"]);
  },
  columns: [
    nameColumn,
    { name: "Status", type: "string", cell: jobStatusCell },
    { name: "Completions", type: "string", cell: completionsCell },
    { name: "Duration", type: "string", cell: (o) => (status(o).startTime ? humanAge(status(o).startTime as string, status(o).completionTime ? Date.parse(status(o).completionTime as string) : Date.now()) : "") },
    ageColumn,
    ...workloadWide(POD_TEMPLATE_CONTAINERS),
  ],
};
