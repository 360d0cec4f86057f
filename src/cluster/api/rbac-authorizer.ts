// The RBAC authorizer (plugin/pkg/auth/authorizer/rbac): a request is allowed when a
// ClusterRoleBinding, or a RoleBinding in the request's namespace, names the user (by
// name, group or service account) and the role it refers to has a rule matching the
// request. Roles and bindings are read from the registry on each question, so a binding
// takes effect on the next request (no cache to lag behind, at the price of a few store
// reads — only users that are neither admins nor nodes get this far).
//
// It also answers the questions around authorization that need the same rules: what a
// user may do in a namespace (SelfSubjectRulesReview), and whether a role or binding a
// user writes grants nothing the user does not hold (escalation prevention, with the
// `escalate` and `bind` verbs as the way around it).
import type { UserInfo } from "./authentication.ts";
import type { KubeObject } from "./objects.ts";
import { covers, escalationMessage, RBAC_GROUP, roleRefOf, ruleAllows, ruleAllowsNonResource, rulesOf, subjectMatches, subjectsOf, type PolicyRule, type ResourceAttributes, type RoleRef } from "./rbac-rules.ts";
import type { ObjectRegistry } from "./registry.ts";
import { findResource, type ResourceType } from "./resources.ts";
import { errForbidden } from "./status.ts";

const rbacType = (plural: string): ResourceType => findResource(RBAC_GROUP, "v1", plural)!;

export class RbacAuthorizer {
  constructor(private readonly registry: ObjectRegistry) {}

  private async all(plural: string, namespace?: string): Promise<KubeObject[]> {
    return (await this.registry.list(rbacType(plural), namespace)).items;
  }

  /** The rules of the role a binding refers to (none when it is missing: a dangling binding grants nothing). */
  async roleRules(ref: RoleRef | undefined, namespace: string | undefined): Promise<PolicyRule[]> {
    if (!ref || ref.apiGroup !== RBAC_GROUP) return [];
    if (ref.kind === "ClusterRole") return rulesOf(await this.registry.tryGet(rbacType("clusterroles"), undefined, ref.name));
    if (ref.kind === "Role" && namespace) return rulesOf(await this.registry.tryGet(rbacType("roles"), namespace, ref.name));
    return [];
  }

  /**
   * VisitRulesFor: every rule granted to USER cluster-wide and, with NAMESPACE, in it; visit
   * returns true to stop early.
   */
  private async visitRules(user: UserInfo, namespace: string | undefined, visit: (rule: PolicyRule) => boolean): Promise<void> {
    for (const b of await this.all("clusterrolebindings")) {
      if (!subjectsOf(b).some((s) => subjectMatches(s, user, undefined))) continue;
      for (const rule of await this.roleRules(roleRefOf(b), undefined)) if (visit(rule)) return;
    }
    if (!namespace) return;
    for (const b of await this.all("rolebindings", namespace)) {
      if (!subjectsOf(b).some((s) => subjectMatches(s, user, namespace))) continue;
      for (const rule of await this.roleRules(roleRefOf(b), namespace)) if (visit(rule)) return;
    }
  }

  async allows(user: UserInfo, a: ResourceAttributes): Promise<boolean> {
    let allowed = false;
    await this.visitRules(user, a.namespace, (rule) => (allowed = ruleAllows(rule, a)));
    return allowed;
  }

  async allowsNonResource(user: UserInfo, verb: string, path: string): Promise<boolean> {
    let allowed = false;
    await this.visitRules(user, undefined, (rule) => (allowed = ruleAllowsNonResource(rule, verb, path)));
    return allowed;
  }

  /** RulesFor: everything USER holds in NAMESPACE (cluster-wide rules included). */
  async rulesFor(user: UserInfo, namespace: string | undefined): Promise<PolicyRule[]> {
    const rules: PolicyRule[] = [];
    await this.visitRules(user, namespace, (rule) => {
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
