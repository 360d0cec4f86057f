// The scheduler's public module: the pure scheduling algorithm (filters, scores, the
// failure message, preemption) and the loop that runs it inside `gantry server`.
export type { Pod, Node } from "./_types.ts";
export { schedule, feasibleNodesToFind, type ScheduleOptions, type ScheduleResult } from "./schedule.ts";
export { preempt, type DisruptionBudget, type PreemptionResult } from "./preemption.ts";
export { fitErrorMessage, type Diagnosis } from "./fit-error.ts";
export { NodeInfo, PodInfo } from "./node-info.ts";
export { podRequests, type Resources } from "./requests.ts";
export type { Snapshot } from "./framework.ts";
export { startScheduler, SCHEDULER_NAME, type RunningScheduler, type SchedulerOptions, type SchedulerStats } from "./scheduler.ts";
