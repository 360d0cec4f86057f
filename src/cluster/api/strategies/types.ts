// A kind's behaviour in the generic registry (what Kubernetes calls a REST strategy): the
// registry and handlers stay the same for every kind and ask the kind's strategy, looked up
// by resource (index.ts), for what differs.
import type { Column } from "../columns.ts";
import type { KubeObject } from "../objects.ts";
import type { Causes } from "../validation.ts";

export interface Strategy {
  /** Names must be DNS-1123 labels (Namespace, Service) rather than subdomains. */
  nameIsLabel?: boolean;
  /** Names need only be path segments (RBAC's "system:basic-user"): no "/", "%", "." or "..". */
  nameIsPathSegment?: boolean;
  /** Whether metadata.generation is tracked; default: kinds with a status subresource. */
  generation?: boolean;
  /** A client may set status on create (a node registers with its status); default: dropped when the kind has a status subresource. */
  statusOnCreate?: boolean;
  /** SetDefaults_*: fills in defaults in place, on every write. */
  defaults?(o: KubeObject): void;
  /** Normalises a written object before validation, on every write (Secret folds stringData into data). */
  canonicalize?(o: KubeObject): void;
  /**
   * Per-kind validation; old is set on updates (immutable fields), subresource names the
   * subresource written through ("status", "binding"), if any.
   */
  validate?(c: Causes, o: KubeObject, old: KubeObject | undefined, subresource?: string): void;
  /**
   * Seconds a DELETE leaves the object for its owner to stop it (a pod bound to a node: its
   * agent stops the containers, then deletes it with grace 0); 0 or absent deletes at once.
   * requested is DeleteOptions.gracePeriodSeconds.
   */
  deletionGracePeriod?(o: KubeObject, requested: number | undefined): number;
  /** What DELETE does to an object that must wait for finalizers (a Namespace turns Terminating). */
  prepareForDelete?(o: KubeObject): void;
  /** Finalizers besides metadata.finalizers that hold an object back from removal (a Namespace's spec.finalizers). */
  extraFinalizers?(o: KubeObject): string[];
  /**
   * Admission that needs other objects (kube-apiserver's admission plugins: Priority): runs
   * before defaulting and validation on every create and update (old set on updates), may
   * change the object, and throws the plugin's 403 to refuse it.
   */
  admit?(o: KubeObject, lookup: AdmissionLookup, old: KubeObject | undefined): Promise<void>;
  /** Store keys the kind allocates (ClusterIPs, NodePorts): assigned on writes, released when the object goes. */
  allocator?: Allocator;
  /** kubectl get's columns; default NAME and AGE. */
  columns?: Column[];
}

/**
 * Addresses and ports handed out by creating one store key per value (create-if-absent), so
 * two API servers on one store can never hand out the same one.
 */
export interface Allocator {
  /**
   * Fills in what the object leaves to the server, claiming a key for every value it holds
   * (old: the object before an update; values it already held stay claimed). dryRun checks
   * without claiming. Throws the kind's 422 when an asked-for value is taken.
   */
  assign(o: KubeObject, old: KubeObject | undefined, claims: Claims): Promise<void>;
  /** The claim keys (relative to the ranges prefix) an object holds. */
  held(o: KubeObject): string[];
}

export interface Claims {
  /** Claims key for the object being written; false when another object holds it. */
  claim(key: string): Promise<boolean>;
  /** Every claimed key under a prefix (to pick a free value without trying them one by one). */
  taken(prefix: string): Promise<Set<string>>;
}

/** What admission may read: objects of other kinds, by group and resource (plural). */
export interface AdmissionLookup {
  get(group: string, plural: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  list(group: string, plural: string): Promise<KubeObject[]>;
}
