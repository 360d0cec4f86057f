// The ClusterRole aggregation controller (pkg/controller/clusterroleaggregation): a
// ClusterRole with an aggregationRule gets as its rules the union of the rules of every
// ClusterRole its selectors match (itself excepted), in name order, without duplicates.
// This is how admin, edit and view grow when a ClusterRole labelled
// rbac.authorization.k8s.io/aggregate-to-view: "true" (a CRD's, say) is created.
import { isConflict, isNotFound, type Informer, type KubeObject, type ResourceRef } from "../client/index.ts";
import { selectorMatches } from "./_label-selector.ts";
import type { LabelSelector } from "./_types.ts";
import { Controller, type ControllerContext } from "./controller.ts";

export const CLUSTER_ROLES: ResourceRef = { group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", kind: "ClusterRole", namespaced: false };

interface ClusterRole extends KubeObject {
  rules?: unknown[];
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] };
}

const selectorsOf = (r: ClusterRole) => r.aggregationRule?.clusterRoleSelectors ?? [];

export class ClusterRoleAggregationController extends Controller {
  private readonly roles: Informer<ClusterRole>;

  constructor(ctx: ControllerContext) {
    super("clusterrole-aggregation", ctx);
    this.roles = ctx.informers.informerFor<ClusterRole>(CLUSTER_ROLES);
    // Any role's change may change what an aggregating role gathers: every aggregating role is looked at again.
    const enqueueAggregators = () => {
      for (const r of this.roles.cache.list()) if (r.aggregationRule) this.queue.add(r.metadata.name!);
    };
    this.roles.addHandlers({ onAdd: enqueueAggregators, onUpdate: enqueueAggregators, onDelete: enqueueAggregators });
  }

  async reconcile(name: string): Promise<void> {
    const role = this.roles.cache.get(name);
    if (!role?.aggregationRule) return;
    const selectors = selectorsOf(role);
    const sources = this.roles.cache
      .list()
      .filter((r) => r.metadata.name !== name && selectors.some((s) => selectorMatches(s, r.metadata.labels)))
      .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
    const rules: unknown[] = [];
    const seen = new Set<string>();
    for (const source of sources) {
      for (const rule of source.rules ?? []) {
        const key = JSON.stringify(rule);
        if (seen.has(key)) continue;
        seen.add(key);
        rules.push(rule);
      }
    }
    if (JSON.stringify(role.rules ?? []) === JSON.stringify(rules)) return;
    try {
      await this.ctx.client.resource<ClusterRole>(CLUSTER_ROLES).update({ ...role, rules });
    } catch (err) {
      // Gone meanwhile, or changed under us (its update event brings it back): nothing to do now.
      if (isNotFound(err) || isConflict(err)) return;
      throw err;
    }
  }
}
