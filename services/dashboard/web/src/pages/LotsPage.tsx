// LOTs with filters and paging; supervisors create LOTs here.
import { Button, Group, Modal, NumberInput, Pagination, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import * as mes from "../api/mes";
import type { LotStatus } from "../api/types";
import { StatusBadge } from "../components/StatusBadge";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatNumber, formatPercent } from "../lib/format";
import { can } from "../lib/nav";
import { useLiveRefresh } from "../lib/useLiveRefresh";
import { useUser } from "../session/SessionProvider";

const PAGE_SIZE = 20;
const STATUSES: LotStatus[] = ["CREATED", "IN_PROGRESS", "COMPLETED", "CANCELLED"];

export default function LotsPage() {
  const { t, locale } = useI18n();
  const user = useUser();
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState<LotStatus | null>(null);
  const [line, setLine] = useState<string | null>(null);
  const [dateFrom, setDateFrom] = useState("");
  const [dateTo, setDateTo] = useState("");
  const [creating, setCreating] = useState(false);
  const lines = useQuery({ queryKey: ["lines"], queryFn: mes.lines, staleTime: 60_000 });
  const filter: mes.LotFilter = {
    page,
    page_size: PAGE_SIZE,
    status: status ?? undefined,
    line: line ?? undefined,
    date_from: dateFrom || undefined,
    date_to: dateTo || undefined,
  };
  const lots = useQuery({ queryKey: ["lots", filter], queryFn: () => mes.lots(filter), placeholderData: keepPreviousData });
  useLiveRefresh([["lots"]], (event) => event.type === "process_event" || event.type === "lot");
  const reset = <T,>(set: (value: T) => void) => (value: T) => {
    set(value);
    setPage(1);
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t("lots.title")}</Title>
        {can.createLot(user.role) && (
          <Button onClick={() => setCreating(true)} data-testid="create-lot">
            {t("lots.create")}
          </Button>
        )}
      </Group>
      <Group align="end">
        <Select
          label={t("lots.status")}
          placeholder={t("lots.any")}
          clearable
          data={STATUSES.map((s) => ({ value: s, label: t(`status.${s}`) }))}
          value={status}
          onChange={(v) => reset(setStatus)(v as LotStatus | null)}
          data-testid="filter-status"
        />
        <Select
          label={t("lots.line")}
          placeholder={t("lots.any")}
          clearable
          data={(lines.data ?? []).map((l) => l.line_code)}
          value={line}
          onChange={reset(setLine)}
        />
        <TextInput type="date" label={t("lots.dateFrom")} value={dateFrom} onChange={(e) => reset(setDateFrom)(e.currentTarget.value)} />
        <TextInput type="date" label={t("lots.dateTo")} value={dateTo} onChange={(e) => reset(setDateTo)(e.currentTarget.value)} />
      </Group>
      <QueryView query={lots}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{t("lots.empty")}</Empty>
          ) : (
            <Stack>
              <Table striped highlightOnHover data-testid="lots-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t("lots.lotNumber")}</Table.Th>
                    <Table.Th>{t("lots.line")}</Table.Th>
                    <Table.Th>{t("lots.model")}</Table.Th>
                    <Table.Th>{t("lots.status")}</Table.Th>
                    <Table.Th ta="right">{t("lots.target")}</Table.Th>
                    <Table.Th ta="right">{t("lots.serials")}</Table.Th>
                    <Table.Th ta="right">{t("lots.actual")}</Table.Th>
                    <Table.Th ta="right">{t("lots.defects")}</Table.Th>
                    <Table.Th ta="right">{t("lots.completion")}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {data.items.map((lot) => (
                    <Table.Tr key={lot.lot_number} data-testid="lot-row">
                      <Table.Td className="mono">
                        <Link to={`/lots/${encodeURIComponent(lot.lot_number)}`}>{lot.lot_number}</Link>
                      </Table.Td>
                      <Table.Td>{lot.line_code}</Table.Td>
                      <Table.Td>{lot.product_model_code}</Table.Td>
                      <Table.Td>
                        <StatusBadge status={lot.status} />
                      </Table.Td>
                      <Table.Td ta="right">{formatNumber(lot.target_quantity, locale)}</Table.Td>
                      <Table.Td ta="right">{formatNumber(lot.serial_count, locale)}</Table.Td>
                      <Table.Td ta="right">{formatNumber(lot.actual_quantity, locale)}</Table.Td>
                      <Table.Td ta="right">{formatNumber(lot.defect_quantity, locale)}</Table.Td>
                      <Table.Td ta="right">{formatPercent(lot.completion_rate, locale)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
              <Group justify="space-between">
                <Text size="sm" c="dimmed">
                  {t("paging.total", { total: data.total })}
                </Text>
                <Pagination total={Math.max(1, data.total_pages)} value={page} onChange={setPage} />
              </Group>
            </Stack>
          )
        }
      </QueryView>
      <CreateLotModal opened={creating} onClose={() => setCreating(false)} />
    </Stack>
  );
}

function CreateLotModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t, errorText } = useI18n();
  const navigate = useNavigate();
  const client = useQueryClient();
  const lines = useQuery({ queryKey: ["lines"], queryFn: mes.lines, enabled: opened });
  const models = useQuery({ queryKey: ["product-models"], queryFn: mes.productModels, enabled: opened });
  const [line, setLine] = useState<string | null>(null);
  const [model, setModel] = useState<string | null>(null);
  const [quantity, setQuantity] = useState<number | string>(10);
  const create = useMutation({
    mutationFn: () =>
      mes.createLot({ line_code: line ?? "", product_model_code: model ?? "", target_quantity: Number(quantity) }),
    onSuccess: (lot) => {
      void client.invalidateQueries({ queryKey: ["lots"] });
      onClose();
      navigate(`/lots/${encodeURIComponent(lot.lot_number)}`);
    },
  });
  const lineValue = line ?? lines.data?.[0]?.line_code ?? null;
  const modelValue = model ?? models.data?.[0]?.model_code ?? null;
  if (line === null && lineValue) setLine(lineValue);
  if (model === null && modelValue) setModel(modelValue);

  return (
    <Modal opened={opened} onClose={onClose} title={t("lots.create")}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Stack>
          <Select label={t("lots.line")} data={(lines.data ?? []).map((l) => l.line_code)} value={lineValue} onChange={setLine} required />
          <Select
            label={t("lots.model")}
            data={(models.data ?? []).map((m) => ({ value: m.model_code, label: `${m.model_code} · ${m.model_name}` }))}
            value={modelValue}
            onChange={setModel}
            required
          />
          <NumberInput label={t("lots.target")} min={1} max={9999} value={quantity} onChange={setQuantity} required data-testid="lot-quantity" />
          {create.error && (
            <Text c="red" size="sm" role="alert">
              {errorText(create.error)}
            </Text>
          )}
          <Button type="submit" loading={create.isPending} data-testid="create-lot-submit">
            {t("action.create")}
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}
