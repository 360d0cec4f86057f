// The API server's public module: what `gantry server` (the CLI) starts and manages.
export { startApiServer, KUBERNETES_VERSION, API_SERVICE_IP, type ApiServerOptions, type RunningApiServer } from "./server.ts";
export { tokenKubeconfig, adminKubeconfig, ensureDashboardCertificate } from "./credentials.ts";
export { describeExpiry, parseDuration, type NodeTokenInfo } from "./node-tokens.ts";
export { nodeUser, type UserInfo } from "./authentication.ts";
export { createNodeToken, listNodeTokens, deleteNodeToken } from "./node-token-admin.ts";
