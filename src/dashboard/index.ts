// The web dashboard's server (`--dashboard-listen` on `gantry server` and `gantry daemon`):
// it serves the browser app built by scripts/build.mjs (dist/dashboard) and passes the app's
// data requests to the real API unchanged, so the API authenticates the bearer token the user
// typed and RBAC decides. The dashboard itself holds no credentials and decides nothing:
//   /api/…, /apis/…, /version  → the cluster API server (HTTPS, verified with its CA)
//   /engine/…                  → the engine's unix socket, only with the daemon's dashboard
//                                token (the socket has no authentication of its own: whoever
//                                may open it is root)
export { startDashboard, type Dashboard, type DashboardOptions, type Upstream } from "./server.ts";
