// CronJob: concurrency and history defaults, and a schedule that parses as five fields or a macro.
import { ageColumn, arr, nameColumn, none, spec, status, workloadWide } from "../columns.ts";
import { humanAge } from "../objects.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, templateSpec, validatePodSpec } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

export const cronJobStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "concurrencyPolicy", "Allow");
    dflt(s, "suspend", false);
    dflt(s, "successfulJobsHistoryLimit", 3);
    dflt(s, "failedJobsHistoryLimit", 1);
    defaultTemplate(obj(obj(s, "jobTemplate"), "spec"));
  },
  validate(c, o) {
    const s = specOf(o);
    if (typeof s.schedule !== "string" || !s.schedule.trim()) c.required("spec.schedule");
    else if (!/^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every .+)$/.test(s.schedule) && s.schedule.trim().split(/\s+/).length !== 5) {
      c.invalid("spec.schedule", s.schedule, "unparseable cron expression");
    }
    validatePodSpec(c, "spec.jobTemplate.spec.template.spec", templateSpec(specOf(specOf(s, "jobTemplate"))), ["OnFailure", "Never"]);
  },
  columns: [
    nameColumn,
    { name: "Schedule", type: "string", cell: (o) => spec(o).schedule ?? "" },
    { name: "Timezone", type: "string", cell: (o) => none(spec(o).timeZone) },
    // printBoolPtr: the words, not a JSON boolean (kubectl would print "false").
    { name: "Suspend", type: "boolean", cell: (o) => (spec(o).suspend === undefined || spec(o).suspend === null ? "<unset>" : spec(o).suspend ? "True" : "False") },
    { name: "Active", type: "integer", cell: (o) => arr(status(o).active).length },
    { name: "Last Schedule", type: "string", cell: (o) => (status(o).lastScheduleTime ? humanAge(status(o).lastScheduleTime as string) : "<none>") },
    ageColumn,
    ...workloadWide(["spec", "jobTemplate", "spec", "template", "spec", "containers"]).slice(0, 2),
  ],
};
