// Service account tokens end to end with the real kubectl: `kubectl create token` gives a JWT
// the API accepts as system:serviceaccount:NS:NAME (`kubectl auth whoami`), with kube's
// claims, signed by the key the server publishes at /openid/v1/jwks; an expired token, one
// bound to a deleted pod and one of a deleted (then recreated) service account are refused
// with 401; TokenReview answers for any token; a node may only ask for its own pods' tokens.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { join } from "node:path";
import { createNodeToken } from "../../src/cluster/api/index.ts";
import { ensureServiceAccountKey, ServiceAccountTokenSigner } from "../../src/cluster/api/service-account-tokens.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { until } from "../cluster-agent/_node.ts";
import { kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

const UNAUTHORIZED = /You must be logged in to the server \(Unauthorized\)|Unauthorized/;
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown> & { "kubernetes.io": Record<string, { name: string; uid: string }> & { namespace: string } };

describe("service account tokens", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  const createToken = async (...args: string[]) => (await c.ok("create", "token", ...args)).trim();
  const asToken = (token: string, args: string[]) => c.kubectl(["--token", token, ...args]);
  const whoami = async (token: string) => {
    const r = await asToken(token, ["auth", "whoami", "-o", "json"]);
    assert.equal(r.code, 0, `kubectl auth whoami: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { status: { userInfo: { username: string; uid?: string; groups: string[]; extra?: Record<string, string[]> } } }).status.userInfo;
  };
  const refused = async (token: string) => {
    const r = await asToken(token, ["auth", "whoami"]);
    return r.code !== 0 && UNAUTHORIZED.test(r.stderr);
  };

  before(async () => {
    c = await startTestCluster();
    // The serviceaccount controller makes `default` in every namespace.
    await until("the default ServiceAccount", async () => (await c.kubectl(["get", "serviceaccount", "default"])).code === 0 || undefined);
  });
  after(async () => {
    await c?.stop();
  });

  test("kubectl create token gives a JWT with kube's claims that authenticates as the service account", async () => {
    const sa = JSON.parse(await c.ok("get", "serviceaccount", "default", "-o", "json")) as { metadata: { uid: string } };
    const token = await createToken("default");
    const claims = claimsOf(token);
    assert.equal(claims.iss, "https://kubernetes.default.svc.cluster.local");
    assert.equal(claims.sub, "system:serviceaccount:default:default");
    assert.deepEqual(claims.aud, ["https://kubernetes.default.svc.cluster.local"]);
    assert.equal(Number(claims.exp) - Number(claims.iat), 3600);
    assert.equal(claims.nbf, claims.iat);
    assert.deepEqual(claims["kubernetes.io"], { namespace: "default", serviceaccount: { name: "default", uid: sa.metadata.uid } });
    const user = await whoami(token);
    assert.equal(user.username, "system:serviceaccount:default:default");
    assert.equal(user.uid, sa.metadata.uid);
    assert.deepEqual(user.groups, ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]);
    // Authenticated but not the admin: the authorizer, not authentication, refuses it.
    const list = await asToken(token, ["get", "configmaps"]);
    assert.notEqual(list.code, 0);
    assert.match(list.stderr, /configmaps is forbidden: User "system:serviceaccount:default:default" cannot list resource "configmaps" in API group "" in the namespace "default"/);
    // --duration sets the lifetime; below kube's ten minutes is refused.
    const long = claimsOf(await createToken("default", "--duration", "2h"));
    assert.equal(Number(long.exp) - Number(long.iat), 7200);
    const short = await c.kubectl(["create", "token", "default", "--duration", "5s"]);
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /spec.expirationSeconds: Invalid value: 5: may not specify a duration less than 10 minutes/);
    const missing = await c.kubectl(["create", "token", "nobody"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /serviceaccounts "nobody" not found/);
  });

  test("the token's signature checks against the published JWKS, and the OIDC configuration names the issuer", async () => {
    const token = await createToken("default");
    const jwks = JSON.parse(await c.ok("get", "--raw", "/openid/v1/jwks")) as { keys: { kid: string; kty: string; crv: string; x: string; y: string; alg: string }[] };
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { alg: string; kid: string };
    assert.equal(header.alg, "ES256");
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, "the token's key id is published");
    const [h, p, s] = token.split(".") as [string, string, string];
    assert.ok(verify("sha256", Buffer.from(`${h}.${p}`), { key: createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: "jwk" }), dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url")));
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claimsOf(token), sub: "system:serviceaccount:kube-system:default" })).toString("base64url")}.${s}`;
    assert.ok(await refused(tampered), "a token whose claims were changed is refused");
    const config = JSON.parse(await c.ok("get", "--raw", "/.well-known/openid-configuration")) as { issuer: string; jwks_uri: string };
    assert.equal(config.issuer, "https://kubernetes.default.svc.cluster.local");
    assert.equal(config.jwks_uri, "https://kubernetes.default.svc.cluster.local/openid/v1/jwks");
  });

  test("an expired token, or one for another audience, is refused with 401", async () => {
    const signer = new ServiceAccountTokenSigner(ensureServiceAccountKey(join(c.dir, "server")));
    const sa = JSON.parse(await c.ok("get", "serviceaccount", "default", "-o", "json")) as { metadata: { uid: string } };
    const kubernetes = { namespace: "default", serviceaccount: { name: "default", uid: sa.metadata.uid } };
    const fresh = signer.issue({ audiences: ["https://kubernetes.default.svc.cluster.local"], seconds: 600, kubernetes }).token;
    assert.equal((await whoami(fresh)).username, "system:serviceaccount:default:default", "the test's signer makes tokens the server accepts");
    const expired = signer.issue({ audiences: ["https://kubernetes.default.svc.cluster.local"], seconds: 600, kubernetes, now: Date.now() - 3600_000 }).token;
    assert.ok(await refused(expired));
    const raw = await c.raw("GET", "/api/v1/namespaces/default/pods", { token: expired });
    assert.equal(raw.status, 401);
    const otherAudience = await createToken("default", "--audience", "vault");
    assert.ok(await refused(otherAudience));
  });

  test("a token bound to a pod works while the pod lives and is refused once it is deleted", async () => {
    await c.ok("run", "bound", "--image", "busybox", "--restart", "Never", "--overrides", JSON.stringify({ spec: { serviceAccountName: "default" } }));
    const pod = JSON.parse(await c.ok("get", "pod", "bound", "-o", "json")) as { metadata: { uid: string } };
    const token = await createToken("default", "--bound-object-kind", "Pod", "--bound-object-name", "bound");
    assert.deepEqual(claimsOf(token)["kubernetes.io"].pod, { name: "bound", uid: pod.metadata.uid });
    const user = await whoami(token);
    assert.deepEqual(user.extra?.["authentication.kubernetes.io/pod-name"], ["bound"]);
    assert.deepEqual(user.extra?.["authentication.kubernetes.io/pod-uid"], [pod.metadata.uid]);
    const wrongUid = await c.raw("POST", "/api/v1/namespaces/default/serviceaccounts/default/token", { body: JSON.stringify({ spec: { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "bound", uid: "not-its-uid" } } }), headers: { "Content-Type": "application/json" } });
    assert.equal(wrongUid.status, 409, wrongUid.body);
    // The pod is on no node, so it goes at once; the token stops within the cache time.
    await c.ok("delete", "pod", "bound", "--wait=true");
    await until("the token bound to the deleted pod to be refused", () => refused(token) || undefined, 15_000);
    const gone = await c.kubectl(["create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "bound"]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /pods "bound" not found/);
  });

  test("deleting the service account revokes its tokens, even when one of the same name is made again", async () => {
    await c.ok("create", "serviceaccount", "reader");
    const token = await createToken("reader");
    assert.equal((await whoami(token)).username, "system:serviceaccount:default:reader");
    await c.ok("delete", "serviceaccount", "reader");
    await c.ok("create", "serviceaccount", "reader");
    await until("the old token to be refused", () => refused(token) || undefined, 15_000);
    assert.equal((await whoami(await createToken("reader"))).username, "system:serviceaccount:default:reader", "the new account's tokens work");
  });

  test("a token bound to a Secret is refused once the Secret is deleted", async () => {
    await c.ok("create", "secret", "generic", "holder", "--from-literal=k=v");
    const token = await createToken("default", "--bound-object-kind", "Secret", "--bound-object-name", "holder");
    assert.equal(claimsOf(token)["kubernetes.io"].secret?.name, "holder");
    assert.equal((await whoami(token)).username, "system:serviceaccount:default:default");
    await c.ok("delete", "secret", "holder");
    await until("the token bound to the deleted Secret to be refused", () => refused(token) || undefined, 15_000);
  });

  test("ServiceAccount admission: default account, the kube-api-access volume, automountServiceAccountToken", async () => {
    const pod = async (name: string, spec: Record<string, unknown> = {}) => {
      const r = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { containers: [{ name: "c", image: "busybox" }], ...spec } }) });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(await c.ok("get", "pod", name, "-o", "json")) as { spec: { serviceAccountName: string; volumes?: { name: string }[]; containers: { volumeMounts?: { mountPath: string }[] }[] } };
    };
    const plain = await pod("adm-plain");
    assert.equal(plain.spec.serviceAccountName, "default");
    assert.equal(plain.spec.volumes?.filter((v) => v.name.startsWith("kube-api-access-")).length, 1);
    assert.deepEqual(plain.spec.containers[0]!.volumeMounts?.map((m) => m.mountPath), ["/var/run/secrets/kubernetes.io/serviceaccount"]);
    await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "quiet" }, automountServiceAccountToken: false }) });
    const quiet = await pod("adm-quiet", { serviceAccountName: "quiet" });
    assert.equal(quiet.spec.volumes, undefined, "the account turns the token off");
    const asked = await pod("adm-asked", { serviceAccountName: "quiet", automountServiceAccountToken: true });
    assert.equal(asked.spec.volumes?.length, 1, "the pod's own setting wins");
    const own = await pod("adm-own", { containers: [{ name: "c", image: "busybox", volumeMounts: [{ name: "mine", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" }] }], volumes: [{ name: "mine", emptyDir: {} }] });
    assert.deepEqual(own.spec.volumes?.map((v) => v.name), ["mine"], "a container that mounts the path itself gets no token volume");
    await c.ok("delete", "pod", "adm-plain", "adm-quiet", "adm-asked", "adm-own");
  });

  test("TokenReview says who a token is, or why not", async () => {
    const token = await createToken("default");
    const review = async (t: string) => {
      const r = await c.raw("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { body: JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token: t } }), headers: { "Content-Type": "application/json" } });
      assert.equal(r.status, 201, r.body);
      return (JSON.parse(r.body) as { status: { authenticated?: boolean; user: { username?: string; groups?: string[] }; error?: string } }).status;
    };
    const ok = await review(token);
    assert.equal(ok.authenticated, true);
    assert.equal(ok.user.username, "system:serviceaccount:default:default");
    const bad = await review(`${token.slice(0, -4)}AAAA`);
    assert.notEqual(bad.authenticated, true);
    assert.match(bad.error ?? "", /invalid/);
    // A service account may not review tokens (it is not allowed to create tokenreviews).
    const asSa = await c.raw("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { token, body: JSON.stringify({ spec: { token } }), headers: { "Content-Type": "application/json" } });
    assert.equal(asSa.status, 403);
  });

  test("a node may ask only for tokens bound to pods scheduled on it", async () => {
    const admin = new Client(c.server.inProcessTransport());
    const { token: nodeToken } = await createNodeToken(admin, "node-a", undefined);
    const mine = { apiVersion: "v1", kind: "Pod", metadata: { name: "on-a" }, spec: { nodeName: "node-a", serviceAccountName: "default", containers: [{ name: "c", image: "busybox" }] } };
    const theirs = { ...mine, metadata: { name: "on-b" }, spec: { ...mine.spec, nodeName: "node-b" } };
    for (const p of [mine, theirs]) {
      const r = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify(p) });
      assert.equal(r.code, 0, r.stderr);
    }
    const ask = (body: object) => c.raw("POST", "/api/v1/namespaces/default/serviceaccounts/default/token", { token: nodeToken, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    const own = await ask({ spec: { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "on-a" } } });
    assert.equal(own.status, 201, own.body);
    assert.equal(claimsOf((JSON.parse(own.body) as { status: { token: string } }).status.token)["kubernetes.io"].pod?.name, "on-a");
    const other = await ask({ spec: { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "on-b" } } });
    assert.equal(other.status, 403);
    assert.match(other.body, /node requested token bound to a pod scheduled on a different node/);
    const unbound = await ask({ spec: {} });
    assert.equal(unbound.status, 403);
    assert.match(unbound.body, /node requested token not bound to a pod/);
    await c.ok("delete", "pod", "on-a", "on-b", "--grace-period=0", "--force");
  });
});
