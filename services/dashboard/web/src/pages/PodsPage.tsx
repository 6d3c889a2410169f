// Pods of the plant namespace: a table with filters, a logs drawer, and (ADMIN) a rollout
// restart of the pod's Deployment.
import { Badge, Button, Group, Select, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import * as infra from "../api/infra";
import { LogsDrawer } from "../components/LogsDrawer";
import { RestartButton } from "../components/RestartButton";
import { StatusBadge } from "../components/StatusBadge";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatAge } from "../lib/format";
import { deploymentOfPod, deploymentsOf } from "../lib/workloads";

const PHASES = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];

export default function PodsPage() {
  const { t } = useI18n();
  const [component, setComponent] = useState<string | null>(null);
  const [phase, setPhase] = useState<string | null>(null);
  const [logsOf, setLogsOf] = useState<string | null>(null);
  const status = useQuery({ queryKey: ["infra", "status"], queryFn: infra.status, refetchInterval: 5_000 });
  const filter = { component: component ?? undefined, phase: phase ?? undefined };
  const pods = useQuery({ queryKey: ["infra", "pods", filter], queryFn: () => infra.pods(filter), refetchInterval: 5_000 });
  const deployments = deploymentsOf(status.data);
  const components = (status.data?.components ?? []).map((c) => c.component);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t("infra.podsTitle")}</Title>
        {pods.data && <Text c="dimmed">{t("infra.namespace", { ns: pods.data.namespace })}</Text>}
      </Group>
      <Group>
        <Select label={t("infra.component")} placeholder={t("lots.any")} clearable data={components} value={component} onChange={setComponent} />
        <Select label={t("infra.phase")} placeholder={t("lots.any")} clearable data={PHASES} value={phase} onChange={setPhase} />
      </Group>
      <QueryView query={pods}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{t("infra.noPods")}</Empty>
          ) : (
            <Table striped highlightOnHover data-testid="pods-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("infra.pod")}</Table.Th>
                  <Table.Th>{t("infra.component")}</Table.Th>
                  <Table.Th>{t("infra.phase")}</Table.Th>
                  <Table.Th>{t("infra.ready")}</Table.Th>
                  <Table.Th>{t("infra.restarts")}</Table.Th>
                  <Table.Th>{t("infra.age")}</Table.Th>
                  <Table.Th>{t("infra.node")}</Table.Th>
                  <Table.Th>IP</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.items.map((pod) => {
                  const deployment = deploymentOfPod(pod.name, deployments);
                  return (
                    <Table.Tr key={pod.name} data-testid="pod-row" data-pod={pod.name}>
                      <Table.Td className="mono">{pod.name}</Table.Td>
                      <Table.Td>{pod.component ?? "–"}</Table.Td>
                      <Table.Td>
                        <Group gap={4}>
                          <StatusBadge status={pod.phase} />
                          {pod.terminating && <Badge color="gray">{t("infra.terminating")}</Badge>}
                        </Group>
                      </Table.Td>
                      <Table.Td>{pod.ready}</Table.Td>
                      <Table.Td>
                        {pod.restarts}
                        {pod.last_termination_reason && (
                          <Badge ml={4} color="orange" variant="light" size="sm">
                            {pod.last_termination_reason}
                          </Badge>
                        )}
                      </Table.Td>
                      <Table.Td>{formatAge(pod.age_seconds)}</Table.Td>
                      <Table.Td>{pod.node ?? "–"}</Table.Td>
                      <Table.Td className="mono">{pod.ip ?? "–"}</Table.Td>
                      <Table.Td>
                        <Group gap="xs" wrap="nowrap">
                          <Button size="xs" variant="light" onClick={() => setLogsOf(pod.name)} data-testid={`logs-${pod.name}`}>
                            {t("infra.logs")}
                          </Button>
                          {deployment && <RestartButton deployment={deployment} />}
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryView>
      <LogsDrawer pod={logsOf} onClose={() => setLogsOf(null)} />
    </Stack>
  );
}
