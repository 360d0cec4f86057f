// Impersonation (k8s.io/apiserver pkg/endpoints/filters/impersonation.go): a request with
// Impersonate-User (kubectl --as), Impersonate-Group (--as-group, repeatable),
// Impersonate-Uid and Impersonate-Extra-KEY headers is served as that user, once the
// authenticated user is allowed the `impersonate` verb on each of them:
//
//   Impersonate-User NAME            users NAME (or serviceaccounts NAME in NAMESPACE for
//                                    system:serviceaccount:NAMESPACE:NAME)
//   Impersonate-Group NAME           groups NAME
//   Impersonate-Uid UID              uids UID in authentication.k8s.io
//   Impersonate-Extra-KEY VALUE      userextras/KEY VALUE in authentication.k8s.io
//
// A refusal is the 403 kube-apiserver gives (`users "bob" is forbidden: User "alice" cannot
// impersonate resource "users" in API group "" at the cluster scope`).
import type { IncomingMessage } from "node:http";
import type { UserInfo } from "./authentication.ts";
import { errRequestForbidden, type RequestAuthorizer, type ResourceAttributes } from "./authorization.ts";
import { errBadRequest } from "./status.ts";

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;
const EXTRA_PREFIX = "impersonate-extra-";

/** Whether the request asks to act as someone else. */
export const wantsImpersonation = (req: IncomingMessage) => Object.keys(req.headers).some((h) => h.startsWith("impersonate-"));

/** The user the request acts as: USER itself, or the one its Impersonate-* headers name (403 if USER may not). */
export async function impersonatedUser(authorizer: RequestAuthorizer, user: UserInfo, req: IncomingMessage): Promise<UserInfo> {
  const headers = req.headersDistinct;
  const username = headers["impersonate-user"]?.[0];
  const groups = headers["impersonate-group"] ?? [];
  const uid = headers["impersonate-uid"]?.[0];
  const extra: Record<string, string[]> = {};
  for (const [h, values] of Object.entries(headers)) {
    if (!h.startsWith(EXTRA_PREFIX) || !values) continue;
    extra[decodeURIComponent(h.slice(EXTRA_PREFIX.length)).toLowerCase()] = values;
  }
  if (username === undefined) {
    if (groups.length || uid !== undefined || Object.keys(extra).length) throw errBadRequest("requested impersonation of groups, a uid or extra fields without impersonating a user");
    return user;
  }
  const checks: ResourceAttributes[] = [];
  const sa = SERVICE_ACCOUNT_USER.exec(username);
  const actingGroups = [...groups];
  if (sa) {
    checks.push({ verb: "impersonate", group: "", resource: "serviceaccounts", namespace: sa[1], name: sa[2] });
    for (const g of ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`]) if (!actingGroups.includes(g)) actingGroups.push(g);
  } else checks.push({ verb: "impersonate", group: "", resource: "users", name: username });
  for (const g of groups) checks.push({ verb: "impersonate", group: "", resource: "groups", name: g });
  if (uid !== undefined) checks.push({ verb: "impersonate", group: "authentication.k8s.io", resource: "uids", name: uid });
  for (const [key, values] of Object.entries(extra)) for (const v of values) checks.push({ verb: "impersonate", group: "authentication.k8s.io", resource: "userextras", subresource: key, name: v });
  for (const a of checks) {
    const decision = await authorizer.authorize(user, a);
    if (!decision.allowed) throw errRequestForbidden(user, a, "");
  }
  // Everyone but the anonymous user is also system:authenticated, impersonated or not.
  if (username !== "system:anonymous" && !actingGroups.includes("system:authenticated")) actingGroups.push("system:authenticated");
  const node = /^system:node:(.+)$/.exec(username);
  return {
    username,
    groups: actingGroups,
    ...(uid !== undefined ? { uid } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
    ...(node && actingGroups.includes("system:nodes") ? { node: node[1] } : {}),
  };
}
