// The plant namespace at a glance: components (desired/ready replicas, pods by phase,
// restarts) and recent Kubernetes events.
import { Badge, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import * as infra from "../api/infra";
import type { InfraStatus } from "../api/types";
import { Empty, QueryView } from "../components/StateViews";
import { RestartButton } from "../components/RestartButton";
import { useI18n } from "../i18n";
import { formatDateTime } from "../lib/format";

export default function InfraStatusPage() {
  const { t } = useI18n();
  const status = useQuery({ queryKey: ["infra", "status"], queryFn: infra.status, refetchInterval: 5_000 });
  const events = useQuery({ queryKey: ["infra", "events"], queryFn: () => infra.events(50), refetchInterval: 10_000 });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t("infra.statusTitle")}</Title>
        {status.data && <Text c="dimmed">{t("infra.namespace", { ns: status.data.namespace })}</Text>}
      </Group>
      {status.data && <Dependencies status={status.data} />}
      <QueryView query={status}>
        {(data) =>
          data.components.length === 0 ? (
            <Empty>{t("infra.noComponents")}</Empty>
          ) : (
            <Table striped data-testid="components">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("infra.component")}</Table.Th>
                  <Table.Th>{t("infra.health")}</Table.Th>
                  <Table.Th>{t("infra.replicas")}</Table.Th>
                  <Table.Th>{t("infra.pods")}</Table.Th>
                  <Table.Th>{t("infra.restarts")}</Table.Th>
                  <Table.Th>{t("infra.workloads")}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.components.map((component) => (
                  <Table.Tr key={component.component} data-testid="component-row">
                    <Table.Td fw={600}>{component.component}</Table.Td>
                    <Table.Td>
                      <Badge color={component.healthy ? "green" : "red"}>
                        {component.healthy ? t("infra.healthy") : t("infra.degraded")}
                      </Badge>
                    </Table.Td>
                    <Table.Td>
                      {component.ready_replicas}/{component.desired_replicas}
                    </Table.Td>
                    <Table.Td>
                      {Object.entries(component.pods_by_phase)
                        .map(([phase, n]) => `${phase} ${n}`)
                        .join(", ") || "–"}
                    </Table.Td>
                    <Table.Td>
                      {component.restarts_total} ({t("infra.lastHour", { n: component.restarts_last_hour })})
                    </Table.Td>
                    <Table.Td>
                      <Stack gap={4}>
                        {component.workloads.map((workload) => (
                          <Group key={workload} gap="xs">
                            <Text size="sm" className="mono">
                              {workload}
                            </Text>
                            {workload.startsWith("Deployment/") && (
                              <RestartButton deployment={workload.slice("Deployment/".length)} />
                            )}
                          </Group>
                        ))}
                      </Stack>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryView>
      <Paper withBorder p="sm">
        <Title order={4} mb="sm">
          {t("infra.events")}
        </Title>
        <QueryView query={events}>
          {(data) =>
            data.items.length === 0 ? (
              <Empty>{t("infra.noEvents")}</Empty>
            ) : (
              <Table>
                <Table.Tbody>
                  {data.items.map((event) => (
                    <Table.Tr key={event.name}>
                      <Table.Td>{formatDateTime(event.last_seen ?? event.first_seen)}</Table.Td>
                      <Table.Td>
                        <Badge color={event.type === "Warning" ? "orange" : "gray"} variant="light">
                          {event.reason ?? event.type}
                        </Badge>
                      </Table.Td>
                      <Table.Td className="mono">{event.object}</Table.Td>
                      <Table.Td>{event.message ?? ""}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )
          }
        </QueryView>
      </Paper>
    </Stack>
  );
}

const DATABASE_COLORS: Record<string, string> = { ready: "green", degraded: "orange", down: "red", unknown: "gray" };

/** The database and Hubble Relay, as infra-api sees them. */
function Dependencies({ status }: { status: InfraStatus }) {
  const { t } = useI18n();
  const { database, hubble } = status;
  if (!database && !hubble) return null;
  return (
    <SimpleGrid cols={{ base: 1, sm: 2 }}>
      {database && (
        <Paper withBorder p="sm" data-testid="database-state">
          <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
            {t("infra.database")}
          </Text>
          <Group gap="xs">
            <Badge color={DATABASE_COLORS[database.state] ?? "gray"}>{t(`infra.db.${database.state}`)}</Badge>
            <Text size="sm" className="mono">
              {database.source ? `${database.source} ${database.ready_replicas}/${database.desired_replicas}` : ""}
            </Text>
          </Group>
        </Paper>
      )}
      {hubble && (
        <Paper withBorder p="sm" data-testid="hubble-state">
          <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
            Hubble Relay
          </Text>
          <Group gap="xs">
            <Badge color={!hubble.configured ? "gray" : hubble.reachable ? "green" : "red"}>
              {!hubble.configured ? t("infra.hubbleOff") : hubble.reachable ? t("infra.hubbleUp") : t("infra.hubbleDown")}
            </Badge>
            <Text size="sm" className="mono">
              {hubble.address ?? ""}
            </Text>
          </Group>
          {hubble.last_error && (
            <Text size="xs" c="red">
              {hubble.last_error}
            </Text>
          )}
        </Paper>
      )}
    </SimpleGrid>
  );
}
