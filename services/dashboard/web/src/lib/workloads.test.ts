import { describe, expect, it } from "vitest";
import { deploymentOfPod, deploymentsOf } from "./workloads";

describe("deploymentOfPod", () => {
  const status = {
    namespace: "plant",
    components: [
      { component: "api", workloads: ["Deployment/mes-api", "StatefulSet/postgres"], desired_replicas: 1, ready_replicas: 1, pods_by_phase: {}, restarts_total: 0, restarts_last_hour: 0, healthy: true },
      { component: "api-worker", workloads: ["Deployment/mes-api-worker"], desired_replicas: 1, ready_replicas: 1, pods_by_phase: {}, restarts_total: 0, restarts_last_hour: 0, healthy: true },
    ],
  };

  it("lists only Deployments", () => {
    expect(deploymentsOf(status)).toEqual(["mes-api", "mes-api-worker"]);
    expect(deploymentsOf(undefined)).toEqual([]);
  });

  it("picks the longest matching Deployment name", () => {
    const deployments = deploymentsOf(status);
    expect(deploymentOfPod("mes-api-7d9f8-abcde", deployments)).toBe("mes-api");
    expect(deploymentOfPod("mes-api-worker-5c6d-xyz12", deployments)).toBe("mes-api-worker");
    expect(deploymentOfPod("postgres-0", deployments)).toBeNull();
  });
});
