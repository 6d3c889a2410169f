// One LOT: its numbers, and the progress grid of its serials (live).
import { Anchor, Button, Group, NumberInput, Paper, SimpleGrid, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import * as mes from "../api/mes";
import type { LotDetail } from "../api/types";
import { StatusBadge } from "../components/StatusBadge";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatNumber, formatPercent } from "../lib/format";
import { type LiveSerials, applyEvent, positionOf } from "../lib/lotLive";
import { can } from "../lib/nav";
import { progressCells } from "../lib/progress";
import { useLiveRefresh } from "../lib/useLiveRefresh";
import { useRealtime } from "../session/RealtimeProvider";
import { useUser } from "../session/SessionProvider";

export default function LotDetailPage() {
  const { lotNumber = "" } = useParams();
  const { t } = useI18n();
  const lot = useQuery({ queryKey: ["lot", lotNumber], queryFn: () => mes.lot(lotNumber) });
  const [live, setLive] = useState<LiveSerials>(new Map());
  useRealtime((event) => {
    if (event.type === "resync") setLive(new Map());
    else setLive((current) => applyEvent(current, event, lotNumber));
  });
  useLiveRefresh([["lot", lotNumber]], (event) => event.lot_number === lotNumber, 500);

  return (
    <Stack>
      <Group gap="xs">
        <Anchor component={Link} to="/lots" size="sm">
          ← {t("lots.title")}
        </Anchor>
      </Group>
      <QueryView query={lot}>{(data) => <LotView lot={data} live={live} />}</QueryView>
    </Stack>
  );
}

function LotView({ lot, live }: { lot: LotDetail; live: LiveSerials }) {
  const { t, locale } = useI18n();
  const user = useUser();
  const counts = lot.serial_counts;
  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <Title order={2} className="mono" data-testid="lot-number">
            {lot.lot_number}
          </Title>
          <StatusBadge status={lot.status} />
        </Group>
        <Text c="dimmed">
          {lot.line_code} · {lot.product_model_code} {lot.product_model_name} · {lot.production_date} {lot.shift}
        </Text>
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 4, lg: 8 }}>
        <Stat label={t("lots.target")} value={formatNumber(lot.target_quantity, locale)} />
        <Stat label={t("lots.serials")} value={formatNumber(lot.serial_count, locale)} testId="lot-serial-count" />
        <Stat label={t("status.IN_PROGRESS")} value={formatNumber(counts.in_progress, locale)} testId="lot-in-progress" />
        <Stat label={t("status.COMPLETED")} value={formatNumber(counts.completed, locale)} testId="lot-completed" />
        <Stat label={t("status.DEFECTIVE")} value={formatNumber(counts.defective, locale)} />
        <Stat label={t("status.SCRAPPED")} value={formatNumber(counts.scrapped, locale)} />
        <Stat label={t("lots.completion")} value={formatPercent(lot.completion_rate, locale)} />
        <Stat label={t("lots.defectRate")} value={formatPercent(lot.defect_rate, locale)} />
      </SimpleGrid>
      {can.createLot(user.role) && lot.serial_count < lot.target_quantity && <CreateSerials lot={lot} />}
      <Paper withBorder p="sm">
        <Title order={4} mb="sm">
          {t("lot.progress")}
        </Title>
        {lot.serials.length === 0 ? <Empty>{t("lot.noSerials")}</Empty> : <ProgressGrid lot={lot} live={live} />}
      </Paper>
    </Stack>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <Paper withBorder p="xs">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={700} data-testid={testId}>
        {value}
      </Text>
    </Paper>
  );
}

function CreateSerials({ lot }: { lot: LotDetail }) {
  const { t, errorText } = useI18n();
  const client = useQueryClient();
  const remaining = lot.target_quantity - lot.serial_count;
  const [quantity, setQuantity] = useState<number | string>(remaining);
  const create = useMutation({
    mutationFn: () => mes.createSerials(lot.lot_number, Number(quantity)),
    onSuccess: () => client.invalidateQueries({ queryKey: ["lot", lot.lot_number] }),
  });
  return (
    <Group align="end">
      <NumberInput
        label={t("lot.serialQuantity")}
        min={1}
        max={remaining}
        value={quantity}
        onChange={setQuantity}
        w={180}
        data-testid="serial-quantity"
      />
      <Button onClick={() => create.mutate()} loading={create.isPending} data-testid="create-serials">
        {t("lot.createSerials")}
      </Button>
      {create.error && (
        <Text c="red" size="sm" role="alert">
          {errorText(create.error)}
        </Text>
      )}
    </Group>
  );
}

function ProgressGrid({ lot, live }: { lot: LotDetail; live: LiveSerials }) {
  const { t } = useI18n();
  const lines = useQuery({ queryKey: ["lines"], queryFn: mes.lines, staleTime: 60_000 });
  const processes = (lines.data?.find((l) => l.line_code === lot.line_code)?.processes ?? [])
    .slice()
    .sort((a, b) => a.sequence - b.sequence);
  const codes = processes.map((p) => p.code);
  return (
    <div style={{ overflowX: "auto" }}>
      <table className="progress-grid" data-testid="progress-grid">
        <thead>
          <tr>
            <th style={{ textAlign: "left" }}>{t("lot.serial")}</th>
            {processes.map((p) => (
              <th key={p.code}>
                <Tooltip label={p.name}>
                  <span>{p.code}</span>
                </Tooltip>
              </th>
            ))}
            <th>{t("lots.status")}</th>
          </tr>
        </thead>
        <tbody>
          {lot.serials.map((serial) => {
            const position = positionOf(serial, live);
            const cells = progressCells(codes, position);
            return (
              <tr key={serial.serial_number} data-testid="serial-row" data-serial={serial.serial_number}>
                <td className="serial">
                  <Link to={`/serials/${encodeURIComponent(serial.serial_number)}`}>{serial.serial_number}</Link>
                </td>
                {cells.map((cell, index) => (
                  <td key={codes[index]}>
                    <div
                      className={`cell cell-${cell}`}
                      data-process={codes[index]}
                      data-cell={cell}
                      title={`${codes[index]}: ${t(`cell.${cell}`)}`}
                    />
                  </td>
                ))}
                <td>
                  <StatusBadge status={position.status} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <Group gap="md" mt="sm">
        {(["done", "active", "failed", "scrapped", "pending"] as const).map((cell) => (
          <Group gap={4} key={cell}>
            <div className={`cell cell-${cell}`} style={{ width: 16 }} />
            <Text size="xs">{t(`cell.${cell}`)}</Text>
          </Group>
        ))}
      </Group>
    </div>
  );
}
