// Node join tokens managed through the running API server with the admin's kubeconfig
// (here, beside the token format, rather than in client/, which knows nothing of the server):
// the token is made here, only its Secret (id, node, expiry, SHA-256 of the secret part)
// travels to the server, and the plaintext is returned once to be printed.
import { notFound } from "../../common/errors.ts";
import { isNotFound, type Client } from "../client/index.ts";
import { describeNodeToken, generateNodeToken, NODE_TOKEN_NAMESPACE, NODE_TOKEN_TYPE, nodeTokenSecretName, type NodeTokenInfo } from "./node-tokens.ts";
import type { KubeObject } from "./objects.ts";

const SECRETS = `/api/v1/namespaces/${NODE_TOKEN_NAMESPACE}/secrets`;

export async function createNodeToken(client: Client, node: string, ttlMs: number | undefined): Promise<{ token: string; info: NodeTokenInfo }> {
  const { token, secret } = generateNodeToken(node, ttlMs);
  const stored = await client.send<KubeObject>("POST", `${SECRETS}?fieldManager=gantry`, secret);
  return { token, info: describeNodeToken(stored)! };
}

export async function listNodeTokens(client: Client): Promise<NodeTokenInfo[]> {
  const list = await client.send<{ items: KubeObject[] }>("GET", `${SECRETS}?fieldSelector=${encodeURIComponent(`type=${NODE_TOKEN_TYPE}`)}`);
  return list.items.flatMap((s) => describeNodeToken(s) ?? []).sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
}

export async function deleteNodeToken(client: Client, id: string): Promise<void> {
  // Read first, so a Secret that merely has the name is never deleted as a token.
  const path = `${SECRETS}/${encodeURIComponent(nodeTokenSecretName(id))}`;
  const secret = await client.send<KubeObject>("GET", path).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!secret || !describeNodeToken(secret)) throw notFound(`no node token with id "${id}"`, { hint: "`gantry server token list` shows the ids" });
  await client.send("DELETE", path);
}
