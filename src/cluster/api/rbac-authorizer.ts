// The RBAC authorizer (plugin/pkg/auth/authorizer/rbac): a request is allowed when a
// ClusterRoleBinding, or a RoleBinding in the request's namespace, names the user (by
// name, group or service account) and the role it refers to has a rule matching the
// request. Roles and bindings come from an in-memory cache kept by watches, and from the
// store before a "no" (rbac-cache.ts), so a binding takes effect on the next request. Only
// users that are neither admins nor nodes (nor allowed by the node rules) get this far.
//
// It also answers the questions around authorization that need the same rules: what a
// user may do in a namespace (SelfSubjectRulesReview), and whether a role or binding a
// user writes grants nothing the user does not hold (escalation prevention, with the
// `escalate` and `bind` verbs as the way around it).
import type { UserInfo } from "./authentication.ts";
import type { KubeObject } from "./objects.ts";
import { covers, escalationMessage, RBAC_GROUP, roleRefOf, ruleAllows, ruleAllowsNonResource, rulesOf, subjectMatches, subjectsOf, type PolicyRule, type ResourceAttributes, type RoleRef } from "./rbac-rules.ts";
import { storeSource, type RbacSource } from "./rbac-cache.ts";
import type { ObjectRegistry } from "./registry.ts";
import { errForbidden } from "./status.ts";

export class RbacAuthorizer {
  private readonly store: RbacSource;

  /** Answers from CACHE when given (and from the store before saying no); else from the store alone. */
  constructor(
    registry: ObjectRegistry,
    private readonly cache?: RbacSource,
  ) {
    this.store = storeSource(registry);
  }

  /** The rules of the role a binding refers to (none when it is missing: a dangling binding grants nothing). */
  private async roleRules(source: RbacSource, ref: RoleRef | undefined, namespace: string | undefined): Promise<PolicyRule[]> {
    if (!ref || ref.apiGroup !== RBAC_GROUP) return [];
    if (ref.kind === "ClusterRole") return rulesOf(await source.clusterRole(ref.name));
    if (ref.kind === "Role" && namespace) return rulesOf(await source.role(namespace, ref.name));
    return [];
  }

  /** The rules of the role a binding names, read from the store. */
  async referencedRules(ref: RoleRef | undefined, namespace: string | undefined): Promise<PolicyRule[]> {
    return this.roleRules(this.store, ref, namespace);
  }

  /**
   * VisitRulesFor: every rule granted to USER cluster-wide and, with NAMESPACE, in it; visit
   * returns true to stop early.
   */
  private async visitRules(source: RbacSource, user: UserInfo, namespace: string | undefined, visit: (rule: PolicyRule) => boolean): Promise<void> {
    for (const b of await source.clusterRoleBindings()) {
      if (!subjectsOf(b).some((s) => subjectMatches(s, user, undefined))) continue;
      for (const rule of await this.roleRules(source, roleRefOf(b), undefined)) if (visit(rule)) return;
    }
    if (!namespace) return;
    for (const b of await source.roleBindings(namespace)) {
      if (!subjectsOf(b).some((s) => subjectMatches(s, user, namespace))) continue;
      for (const rule of await this.roleRules(source, roleRefOf(b), namespace)) if (visit(rule)) return;
    }
  }

  /** Whether some rule matches: from the cache first, then — before saying no — from the store. */
  private async anyRule(user: UserInfo, namespace: string | undefined, matches: (rule: PolicyRule) => boolean): Promise<boolean> {
    for (const source of this.cache ? [this.cache, this.store] : [this.store]) {
      let found = false;
      await this.visitRules(source, user, namespace, (rule) => (found = matches(rule)));
      if (found) return true;
    }
    return false;
  }

  async allows(user: UserInfo, a: ResourceAttributes): Promise<boolean> {
    return this.anyRule(user, a.namespace, (rule) => ruleAllows(rule, a));
  }

  async allowsNonResource(user: UserInfo, verb: string, path: string): Promise<boolean> {
    return this.anyRule(user, undefined, (rule) => ruleAllowsNonResource(rule, verb, path));
  }

  /** RulesFor: everything USER holds in NAMESPACE (cluster-wide rules included), read from the store. */
  async rulesFor(user: UserInfo, namespace: string | undefined): Promise<PolicyRule[]> {
    const rules: PolicyRule[] = [];
    await this.visitRules(this.store, user, namespace, (rule) => {
      rules.push(rule);
      return false;
    });
    return rules;
  }

  /**
   * ConfirmNoEscalation: throws the 403 kube-apiserver answers when USER writes OBJECT (a
   * role or binding of resource PLURAL) granting RULES the user does not hold in NAMESPACE.
   */
  async confirmNoEscalation(user: UserInfo, plural: string, object: KubeObject, namespace: string | undefined, rules: PolicyRule[]): Promise<void> {
    const { covered, missing } = covers(await this.rulesFor(user, namespace), rules);
    if (covered) return;
    const name = object.metadata.name ?? "";
    throw errForbidden(`${plural}.${RBAC_GROUP} "${name}" is forbidden: ${escalationMessage(user, missing)}`, { name, group: RBAC_GROUP, kind: plural });
  }
}
