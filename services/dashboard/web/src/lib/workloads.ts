// Which Deployment a pod belongs to, from infra-api's status (`Deployment/<name>` workloads):
// the longest Deployment name that, followed by `-`, starts the pod's name (pods of a
// Deployment are named `<deployment>-<replicaset hash>-<pod hash>`).
import type { InfraStatus } from "../api/types";

export function deploymentsOf(status: InfraStatus | undefined): string[] {
  if (!status) return [];
  return status.components
    .flatMap((component) => component.workloads)
    .filter((workload) => workload.startsWith("Deployment/"))
    .map((workload) => workload.slice("Deployment/".length));
}

export function deploymentOfPod(pod: string, deployments: readonly string[]): string | null {
  let best: string | null = null;
  for (const name of deployments) {
    if (pod.startsWith(`${name}-`) && (best === null || name.length > best.length)) best = name;
  }
  return best;
}
