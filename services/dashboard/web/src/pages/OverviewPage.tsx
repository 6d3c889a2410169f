// Today's production: plant totals, per line KPIs and per-process charts, and the live feed.
import { Card, Grid, Group, Paper, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Suspense, lazy } from "react";
import * as mes from "../api/mes";
import type { LineSummary, Totals } from "../api/types";
import { EventFeed } from "../components/EventFeed";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatNumber, formatPercent } from "../lib/format";
import { useLiveRefresh } from "../lib/useLiveRefresh";

// Chart.js is the largest part of this page: the numbers render first, the charts follow.
const WipChart = lazy(() => import("../components/charts").then((m) => ({ default: m.WipChart })));
const CycleTimeChart = lazy(() => import("../components/charts").then((m) => ({ default: m.CycleTimeChart })));
const chartFallback = <Skeleton h={220} />;

export default function OverviewPage() {
  const { t } = useI18n();
  const summary = useQuery({ queryKey: ["summary"], queryFn: () => mes.summary() });
  useLiveRefresh([["summary"], ["kpis"]]);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t("overview.title")}</Title>
        {summary.data && (
          <Text c="dimmed" data-testid="production-date">
            {t("overview.date", { date: summary.data.date })}
          </Text>
        )}
      </Group>
      <Grid>
        <Grid.Col span={{ base: 12, lg: 9 }}>
          <QueryView query={summary}>
            {(data) => (
              <Stack>
                <TotalsCards totals={data} />
                {data.lines.length === 0 ? (
                  <Empty>{t("overview.noLines")}</Empty>
                ) : (
                  data.lines.map((line) => <LineCard key={line.line_code} line={line} />)
                )}
              </Stack>
            )}
          </QueryView>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 3 }}>
          <EventFeed />
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

function Kpi({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} data-testid={testId}>
        {value}
      </Text>
    </Paper>
  );
}

function TotalsCards({ totals }: { totals: Totals }) {
  const { t, locale } = useI18n();
  return (
    <SimpleGrid cols={{ base: 2, sm: 3, md: 6 }}>
      <Kpi label={t("overview.activeLots")} value={formatNumber(totals.active_lots, locale)} testId="kpi-active-lots" />
      <Kpi label={t("overview.totalSerials")} value={formatNumber(totals.total_serials, locale)} testId="kpi-total-serials" />
      <Kpi label={t("overview.completed")} value={formatNumber(totals.completed_serials, locale)} testId="kpi-completed" />
      <Kpi label={t("overview.defective")} value={formatNumber(totals.defective_serials, locale)} testId="kpi-defective" />
      <Kpi label={t("overview.completionRate")} value={formatPercent(totals.completion_rate, locale)} />
      <Kpi label={t("overview.defectRate")} value={formatPercent(totals.defect_rate, locale)} />
    </SimpleGrid>
  );
}

function LineCard({ line }: { line: LineSummary }) {
  const { t, locale } = useI18n();
  const kpis = useQuery({ queryKey: ["kpis", line.line_code], queryFn: () => mes.lineKpis(line.line_code) });
  const inProgress = line.processes.reduce((sum, p) => sum + p.in_progress, 0);
  return (
    <Card withBorder data-testid={`line-${line.line_code}`}>
      <Stack>
        <Group justify="space-between">
          <Title order={4}>
            {line.line_code} · {line.display_name}
          </Title>
          <Text size="sm" c="dimmed">
            {t("overview.inProcessNow", { count: inProgress })}
          </Text>
        </Group>
        <SimpleGrid cols={{ base: 2, md: 4 }}>
          <Kpi label={t("overview.wip")} value={formatNumber(kpis.data?.wip, locale)} testId={`kpi-wip-${line.line_code}`} />
          <Kpi
            label={t("overview.completedToday")}
            value={formatNumber(kpis.data?.completed_today, locale)}
            testId={`kpi-completed-today-${line.line_code}`}
          />
          <Kpi label={t("overview.yield")} value={formatPercent(kpis.data?.yield_percent, locale)} />
          <Kpi label={t("overview.throughput")} value={formatNumber(kpis.data?.throughput_per_hour, locale)} />
        </SimpleGrid>
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          <div>
            <Text fw={600} size="sm" mb={4}>
              {t("overview.wipChart")}
            </Text>
            <Suspense fallback={chartFallback}>
              <WipChart processes={line.processes} />
            </Suspense>
          </div>
          <div>
            <Text fw={600} size="sm" mb={4}>
              {t("overview.cycleChart")}
            </Text>
            <Suspense fallback={chartFallback}>
              <CycleTimeChart processes={line.processes} />
            </Suspense>
          </div>
        </SimpleGrid>
        <ProcessTable line={line} />
      </Stack>
    </Card>
  );
}

function ProcessTable({ line }: { line: LineSummary }) {
  const { t } = useI18n();
  return (
    <table className="progress-grid" data-testid={`process-table-${line.line_code}`}>
      <thead>
        <tr>
          <th />
          {line.processes.map((p) => (
            <th key={p.process_code}>{p.process_code}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {(["in_progress", "completed", "failed"] as const).map((field) => (
          <tr key={field}>
            <td className="serial">{t(`overview.row.${field}`)}</td>
            {line.processes.map((p) => (
              <td key={p.process_code} style={{ textAlign: "center" }} data-testid={`cell-${field}-${p.process_code}`}>
                {p[field]}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
