// Times as Kubernetes writes them in objects (metav1.Time): RFC 3339, whole seconds, UTC.
export const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
