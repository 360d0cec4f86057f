// The controller manager: what `gantry server` runs beside the API (kube-controller-manager's
// place). It is handed a client transport — the API server's in-process one inside the
// server, HTTPS elsewhere — reads discovery once, builds every controller on one shared
// informer factory, waits for the caches to fill, then runs N workers per controller.
import { realClock, type Clock } from "../../common/clock.ts";
import { Client, InformerFactory, type ApiTransport } from "../client/index.ts";
import type { Controller, ControllerContext } from "./controller.ts";
import { GarbageCollector } from "./garbage-collector.ts";
import { NamespaceController } from "./namespace.ts";
import { ReplicaSetController, REPLICATION_CONTROLLER_KIND } from "./replicaset.ts";
import { DeploymentController } from "./deployment.ts";
import { EndpointsController } from "./endpoints.ts";
import { EndpointSliceController } from "./endpointslice.ts";
import { ServiceAccountController } from "./serviceaccount.ts";
import { RootCAPublisher } from "./root-ca-publisher.ts";
import { DaemonSetController } from "./daemonset.ts";
import { JobController } from "./job.ts";
import { CronJobController } from "./cronjob.ts";
import { TtlAfterFinishedController } from "./ttl-after-finished.ts";
import { StatefulSetController } from "./statefulset.ts";
import { NodeLifecycleController, type NodeLifecycleOptions } from "./node-lifecycle.ts";
import { DisruptionController } from "./disruption.ts";
import { ResourceQuotaController } from "./resourcequota.ts";
import { PersistentVolumeController } from "./persistentvolume.ts";
import { PvcProtectionController } from "./pvc-protection.ts";
import { ClusterRoleAggregationController } from "./clusterrole-aggregation.ts";
import { HorizontalPodAutoscalerController, type HorizontalPodAutoscalerOptions } from "./horizontal-pod-autoscaler.ts";

export interface ControllerManagerOptions {
  clock?: Clock;
  log?: (message: string) => void;
  /** Workers per controller. */
  workers?: number;
  /** Which controllers to run (default: all of them). */
  controllers?: (ctx: ControllerContext) => Controller[];
}

export interface RunningControllerManager {
  readonly controllers: Controller[];
  readonly informers: InformerFactory;
  /** No controller has a key queued or being reconciled (keys waiting out a back-off may remain). */
  isIdle(): boolean;
  stop(): Promise<void>;
}

/** Settings of single controllers (kube-controller-manager's flags). */
export interface ControllerFlags {
  nodeLifecycle?: NodeLifecycleOptions;
  horizontalPodAutoscaler?: HorizontalPodAutoscalerOptions;
}

export const allControllers = (ctx: ControllerContext, flags: ControllerFlags = {}): Controller[] => [
  new GarbageCollector(ctx),
  new NamespaceController(ctx),
  new ReplicaSetController(ctx),
  new ReplicaSetController(ctx, REPLICATION_CONTROLLER_KIND),
  new DeploymentController(ctx),
  new EndpointsController(ctx),
  new EndpointSliceController(ctx),
  new ServiceAccountController(ctx),
  ...(ctx.rootCA ? [new RootCAPublisher(ctx, ctx.rootCA)] : []),
  new DaemonSetController(ctx),
  new JobController(ctx),
  new CronJobController(ctx),
  new TtlAfterFinishedController(ctx),
  new StatefulSetController(ctx),
  new NodeLifecycleController(ctx, flags.nodeLifecycle),
  new DisruptionController(ctx),
  new ResourceQuotaController(ctx),
  new PersistentVolumeController(ctx),
  new PvcProtectionController(ctx),
  new ClusterRoleAggregationController(ctx),
  new HorizontalPodAutoscalerController(ctx, flags.horizontalPodAutoscaler),
];

export async function startControllerManager(
  transport: ApiTransport,
  opts: ControllerManagerOptions = {},
): Promise<RunningControllerManager> {
  const clock = opts.clock ?? realClock;
  const log = opts.log ?? (() => {});
  const client = new Client(transport, { fieldManager: "gantry-controller-manager" });
  const informers = new InformerFactory(client, { clock, log });
  const ctx: ControllerContext = { client, informers, resources: await client.discover(), clock, log, rootCA: transport.caCert?.() };
  const controllers = (opts.controllers ?? allControllers)(ctx);
  informers.start();
  await informers.whenSynced();
  const running = controllers.map((c) => c.run(opts.workers ?? 2));
  log(
    `controllers: ${controllers.map((c) => c.name).join(", ")} running over ${informers.all().length} informers`,
  );
  return {
    controllers,
    informers,
    isIdle: () => controllers.every((c) => c.queue.isIdle()),
    async stop() {
      for (const c of controllers) c.queue.shutDown();
      await Promise.all(running);
      await informers.stop();
    },
  };
}
