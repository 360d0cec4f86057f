import { test } from "node:test";
import assert from "node:assert/strict";
import { jobStrategy } from "./job.ts";
import type { KubeObject } from "../objects.ts";

const cells = (o: Partial<KubeObject> & { spec?: object; status?: object }) => {
  const obj = { metadata: { name: "j" }, ...o } as KubeObject;
  return jobStrategy.columns!.slice(1, 3).map((c) => c.cell(obj));
};

test("kubectl get jobs: STATUS and COMPLETIONS as Kubernetes' printJob", () => {
  assert.deepEqual(cells({ spec: { completions: 5 }, status: { succeeded: 2 } }), ["Running", "2/5"]);
  assert.deepEqual(cells({ spec: { parallelism: 3 }, status: {} }), ["Running", "0/1 of 3"], "a work-queue Job");
  assert.deepEqual(cells({ spec: { parallelism: 1 }, status: { succeeded: 1 } }), ["Running", "1/1"]);
  const cond = (type: string, status = "True") => ({ type, status });
  assert.equal(cells({ spec: { completions: 1 }, status: { conditions: [cond("SuccessCriteriaMet"), cond("Complete")] } })[0], "Complete");
  assert.equal(cells({ spec: { completions: 1 }, status: { conditions: [cond("FailureTarget")] } })[0], "FailureTarget");
  assert.equal(cells({ spec: { completions: 1, suspend: true }, status: { conditions: [cond("Suspended", "False")] } })[0], "Running", "a resumed Job");
  assert.equal(cells({ spec: { completions: 1 }, status: { conditions: [cond("Suspended")] } })[0], "Suspended");
  assert.equal(cells({ metadata: { name: "j", deletionTimestamp: "2026-01-01T00:00:00Z" }, spec: { completions: 1 }, status: {} })[0], "Terminating");
});
