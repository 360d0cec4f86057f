// batch/v1 Job and CronJob as the Job, CronJob and TTL-after-finished controllers read and
// write them (typed only as far as they look; the rest travels through untouched).
import type { KubeObject, ResourceRef } from "../client/index.ts";
import type { Condition, LabelSelector, ObjectReference, PodTemplate } from "./_types.ts";

export interface JobSpec {
  parallelism?: number;
  /** null or absent: a work-queue Job, done when any pod succeeds and none is left running. */
  completions?: number | null;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  completionMode?: "NonIndexed" | "Indexed";
  suspend?: boolean;
  /** TerminatingOrFailed (default) or Failed: whether a terminating pod is replaced before it is gone. */
  podReplacementPolicy?: string;
  selector?: LabelSelector;
  template?: PodTemplate;
}

export interface UncountedTerminatedPods {
  succeeded?: string[];
  failed?: string[];
}

export interface JobStatus {
  active?: number;
  ready?: number;
  succeeded?: number;
  failed?: number;
  terminating?: number;
  startTime?: string;
  completionTime?: string;
  completedIndexes?: string;
  conditions?: Condition[];
  /** Pods that finished and are being counted: their uids stay here from before their finalizer is removed until they are in succeeded/failed. */
  uncountedTerminatedPods?: UncountedTerminatedPods;
}

export interface Job extends KubeObject {
  spec: JobSpec;
  status?: JobStatus;
}

export interface CronJob extends KubeObject {
  spec: {
    schedule: string;
    timeZone?: string;
    startingDeadlineSeconds?: number;
    concurrencyPolicy?: "Allow" | "Forbid" | "Replace";
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: JobSpec };
  };
  status?: {
    active?: (ObjectReference & { apiVersion?: string; resourceVersion?: string })[];
    lastScheduleTime?: string;
    lastSuccessfulTime?: string;
  };
}

export const JOBS: ResourceRef = { group: "batch", version: "v1", resource: "jobs", kind: "Job", namespaced: true };
export const CRON_JOBS: ResourceRef = { group: "batch", version: "v1", resource: "cronjobs", kind: "CronJob", namespaced: true };

/** A finished Job's condition (Complete or Failed, True), if it has one (IsJobFinished). */
export function finishedConditionOf(job: Job): Condition | undefined {
  return job.status?.conditions?.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

export const isJobFinished = (job: Job): boolean => finishedConditionOf(job) !== undefined;
