// POST /v1-gantry/serving-kubelet.crt: a node agent hands in a CSR for its kubelet server and
// gets back a certificate signed by the cluster CA, as k3s's agents fetch theirs from
// /v1-k3s/serving-kubelet.crt. Only node identities may ask, and only for themselves: the
// subject is set from the node the token was made for, never from the CSR. The names are the
// addresses the node says it has (k3s trusts its agents the same way); the API server dials
// the kubelet at its Node's InternalIP and checks the certificate against it.
import { isIP } from "node:net";
import type { UserInfo } from "./authentication.ts";
import { sendJson, type HandlerContext } from "./handlers.ts";
import { isPlainObject } from "./objects.ts";
import { parseJson, readBody } from "./request-body.ts";
import { errBadRequest, errForbidden } from "./status.ts";
import type { IncomingMessage, ServerResponse } from "node:http";

export const SERVING_CERT_PATH = "/v1-gantry/serving-kubelet.crt";

export interface ServingCertRequest {
  /** PEM certificate signing request for the kubelet server's key. */
  csr: string;
  /** The node's addresses (IPs) the certificate is valid for. */
  addresses: string[];
}

export interface ServingCertResponse {
  certificate: string;
  /** The cluster CA: the agent trusts the API server's kubelet client certificate by it. */
  ca: string;
}

export async function handleServingCert(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const kubelets = ctx.kubelets;
  if (!kubelets) throw errBadRequest("this API server does not sign kubelet certificates");
  if (user.node === undefined) throw errForbidden(`User "${user.username}" is not a node and may not ask for a kubelet serving certificate`);
  const body = parseJson(await readBody(req, ctx.maxBodyBytes));
  if (!isPlainObject(body) || typeof body.csr !== "string" || !/-----BEGIN CERTIFICATE REQUEST-----/.test(body.csr)) throw errBadRequest("the body must be {csr: PEM certificate request, addresses: [IP...]}");
  const addresses = Array.isArray(body.addresses) ? body.addresses : [];
  const bad = addresses.find((a) => typeof a !== "string" || isIP(a) === 0);
  if (bad !== undefined) throw errBadRequest(`address ${JSON.stringify(bad)} is not an IP address`);
  const certificate = kubelets.signServingCert(body.csr, user.node, addresses as string[]);
  const reply: ServingCertResponse = { certificate, ca: kubelets.caCert };
  sendJson(res, 200, reply);
}
