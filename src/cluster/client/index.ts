// The cluster client's public module: what controllers, the scheduler, the agent and the
// CLI import from src/cluster/client (never its files directly).
export { ApiClient } from "./api-client.ts";
export { ExponentialBackoff, MaxOf, TokenBucket, defaultControllerRateLimiter, type RateLimiter } from "./rate-limit.ts";
export { WorkQueue, type WorkQueueOptions } from "./work-queue.ts";
