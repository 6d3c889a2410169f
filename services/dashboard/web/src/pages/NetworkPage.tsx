// Network flows of the plant namespace from Hubble: a filtered table, a live mode (SSE), and a
// small service map. Without Hubble the page says so (503 HUBBLE_UNAVAILABLE).
import { Alert, Badge, Grid, Group, Paper, Select, Stack, Switch, Table, Text, TextInput, Title } from "@mantine/core";
import { IconNetworkOff } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import * as infra from "../api/infra";
import type { FlowRow } from "../api/types";
import { ServiceMap } from "../components/ServiceMap";
import { Empty, ErrorState, Loading } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatTime } from "../lib/format";

const KEEP = 500;
const VERDICTS = ["FORWARDED", "DROPPED", "ERROR", "AUDIT"];

export function isHubbleMissing(error: unknown): boolean {
  return error instanceof ApiError && error.code === "HUBBLE_UNAVAILABLE";
}

export default function NetworkPage() {
  const { t } = useI18n();
  const [pod, setPod] = useState("");
  const [verdict, setVerdict] = useState<string | null>(null);
  const [since, setSince] = useState<string | null>("15m");
  const [live, setLive] = useState(false);
  const filter: infra.FlowFilter = { pod: pod || undefined, verdict: verdict ?? undefined, since: since ?? undefined, limit: 200 };
  const flows = useQuery({ queryKey: ["infra", "flows", filter], queryFn: () => infra.flows(filter), enabled: !live, retry: false });
  const map = useQuery({ queryKey: ["infra", "map"], queryFn: () => infra.serviceMap(), refetchInterval: 15_000, retry: false });

  if (isHubbleMissing(flows.error) || isHubbleMissing(map.error)) {
    return (
      <Stack>
        <Title order={2}>{t("network.title")}</Title>
        <Alert color="gray" icon={<IconNetworkOff size={20} />} title={t("network.noHubble")} data-testid="hubble-unavailable">
          {t("network.noHubbleDetail")}
        </Alert>
      </Stack>
    );
  }

  return (
    <Stack>
      <Title order={2}>{t("network.title")}</Title>
      <Group align="end">
        <TextInput label={t("network.pod")} value={pod} onChange={(e) => setPod(e.currentTarget.value)} />
        <Select label={t("network.verdict")} placeholder={t("lots.any")} clearable data={VERDICTS} value={verdict} onChange={setVerdict} />
        <Select label={t("network.since")} data={["5m", "15m", "1h", "6h"]} value={since} onChange={setSince} disabled={live} />
        <Switch label={t("network.live")} checked={live} onChange={(e) => setLive(e.currentTarget.checked)} data-testid="flows-live" />
      </Group>
      <Grid>
        <Grid.Col span={{ base: 12, lg: 8 }}>
          {live ? (
            <LiveFlows pod={pod} verdict={verdict} />
          ) : flows.isPending ? (
            <Loading />
          ) : flows.error ? (
            <ErrorState error={flows.error} onRetry={() => void flows.refetch()} />
          ) : (
            <FlowTable flows={flows.data?.items ?? []} />
          )}
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 4 }}>
          <Paper withBorder p="sm">
            <Title order={5} mb="xs">
              {t("network.map")}
            </Title>
            {map.isPending ? <Loading /> : map.error ? <ErrorState error={map.error} /> : map.data && <ServiceMap map={map.data} />}
          </Paper>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

function LiveFlows({ pod, verdict }: { pod: string; verdict: string | null }) {
  const { t } = useI18n();
  const [rows, setRows] = useState<FlowRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [lost, setLost] = useState(0);
  const [ended, setEnded] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    setRows([]);
    setError(null);
    setLost(0);
    setEnded(null);
    infra
      .stream(
        "/api/infra/network/flows",
        { follow: true, pod: pod || undefined, verdict: verdict ?? undefined },
        {
          onEvent: (event, data) => {
            try {
              if (event === "message") {
                const row = JSON.parse(data) as FlowRow;
                setRows((current) => [row, ...current].slice(0, KEEP));
              } else if (event === "lost") {
                const { lost_events } = JSON.parse(data) as { lost_events: number };
                setLost((n) => n + lost_events);
              } else if (event === "end") {
                setEnded((JSON.parse(data) as { reason: string }).reason);
              }
            } catch {
              // not one of infra-api's events
            }
          },
        },
        abort.signal,
      )
      .catch(setError);
    return () => abort.abort();
  }, [pod, verdict]);
  if (error !== null) return <ErrorState error={error} />;
  return (
    <Stack gap="xs">
      <Group gap="xs">
        <Badge color={ended ? "gray" : "green"} variant="dot" data-testid="flows-live-state">
          {ended ? t("network.liveEnded", { reason: ended }) : t("network.liveOn")}
        </Badge>
        {lost > 0 && (
          <Badge color="orange" variant="light">
            {t("network.lost", { n: lost })}
          </Badge>
        )}
      </Group>
      <FlowTable flows={rows} />
    </Stack>
  );
}

function endpoint(e: FlowRow["source"]): string {
  return e.pod ?? e.workload ?? e.labels.find((l) => l.startsWith("reserved:")) ?? `#${e.identity}`;
}

function FlowTable({ flows }: { flows: FlowRow[] }) {
  const { t } = useI18n();
  if (flows.length === 0) return <Empty>{t("network.noFlows")}</Empty>;
  return (
    <Table striped data-testid="flows-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{t("network.time")}</Table.Th>
          <Table.Th>{t("network.source")}</Table.Th>
          <Table.Th>{t("network.destination")}</Table.Th>
          <Table.Th>L4</Table.Th>
          <Table.Th>L7</Table.Th>
          <Table.Th>{t("network.verdict")}</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {flows.map((flow, index) => (
          <Table.Tr key={`${flow.time}-${index}`} data-testid="flow-row">
            <Table.Td className="mono">{formatTime(flow.time)}</Table.Td>
            <Table.Td className="mono">{endpoint(flow.source)}</Table.Td>
            <Table.Td className="mono">{endpoint(flow.destination)}</Table.Td>
            <Table.Td>{flow.l4 ? `${flow.l4.protocol}/${flow.l4.destination_port ?? ""}` : "–"}</Table.Td>
            <Table.Td>{flow.l7?.summary ?? ""}</Table.Td>
            <Table.Td miw={130}>
              <Badge color={flow.verdict === "FORWARDED" ? "green" : flow.verdict === "DROPPED" ? "red" : "gray"} variant="light">
                {flow.verdict}
              </Badge>
              {flow.drop_reason && (
                <Text size="xs" c="red">
                  {flow.drop_reason}
                </Text>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
