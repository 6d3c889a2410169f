// A serial's genealogy: every process record in time order with its data, defects and reworks.
import { Badge, Button, Group, Paper, SimpleGrid, Stack, Table, Text, TextInput, Timeline, Title } from "@mantine/core";
import { IconCheck, IconClock, IconTool, IconX } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import * as mes from "../api/mes";
import type { ProcessRecord, SerialDetail } from "../api/types";
import { DataFields } from "../components/DataFields";
import { StatusBadge } from "../components/StatusBadge";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatDateTime, formatSeconds } from "../lib/format";
import { useLiveRefresh } from "../lib/useLiveRefresh";

export default function SerialPage() {
  const { serialNumber } = useParams();
  const { t } = useI18n();
  const navigate = useNavigate();
  const [search, setSearch] = useState(serialNumber ?? "");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = search.trim().toUpperCase();
    if (value) navigate(`/serials/${encodeURIComponent(value)}`);
  };
  return (
    <Stack>
      <Title order={2}>{t("serial.title")}</Title>
      <form onSubmit={submit}>
        <Group align="end">
          <TextInput
            label={t("serial.lookup")}
            placeholder="FN-KR-251109D-001-0001"
            value={search}
            onChange={(e) => setSearch(e.currentTarget.value)}
            w={360}
            className="mono"
            data-testid="serial-search"
          />
          <Button type="submit">{t("action.show")}</Button>
        </Group>
      </form>
      {serialNumber ? <SerialView serialNumber={serialNumber} /> : <Empty>{t("serial.hint")}</Empty>}
    </Stack>
  );
}

function SerialView({ serialNumber }: { serialNumber: string }) {
  const serial = useQuery({ queryKey: ["serial", serialNumber], queryFn: () => mes.serial(serialNumber) });
  useLiveRefresh([["serial", serialNumber]], (event) => event.type !== "lot" && event.serial_number === serialNumber, 300);
  return <QueryView query={serial}>{(data) => <Genealogy serial={data} />}</QueryView>;
}

function Genealogy({ serial }: { serial: SerialDetail }) {
  const { t } = useI18n();
  return (
    <Stack>
      <Group>
        <Title order={3} className="mono" data-testid="serial-number">
          {serial.serial_number}
        </Title>
        <StatusBadge status={serial.status} />
        {serial.defect_code && <Badge color="red">{serial.defect_code}</Badge>}
      </Group>
      <SimpleGrid cols={{ base: 2, md: 4 }}>
        <Field label={t("serial.lot")}>
          <Link to={`/lots/${encodeURIComponent(serial.lot_number)}`}>{serial.lot_number}</Link>
        </Field>
        <Field label={t("lots.line")}>{serial.line_code}</Field>
        <Field label={t("serial.next")}>{serial.next_process ?? "–"}</Field>
        <Field label={t("serial.workOrder")}>{serial.work_order}</Field>
      </SimpleGrid>
      <Paper withBorder p="md">
        <Title order={4} mb="md">
          {t("serial.timeline")}
        </Title>
        {serial.process_history.length === 0 ? (
          <Empty>{t("serial.noHistory")}</Empty>
        ) : (
          <Timeline bulletSize={24} lineWidth={2} data-testid="genealogy">
            {serial.process_history.map((record) => (
              <Timeline.Item key={record.process_data_id} bullet={<RecordIcon record={record} />} title={<RecordTitle record={record} />}>
                <RecordBody record={record} />
              </Timeline.Item>
            ))}
          </Timeline>
        )}
      </Paper>
      {serial.reworks.length > 0 && (
        <Paper withBorder p="md">
          <Title order={4} mb="sm">
            {t("serial.reworks")}
          </Title>
          <Table>
            <Table.Tbody>
              {serial.reworks.map((rework) => (
                <Table.Tr key={rework.id}>
                  <Table.Td>
                    <IconTool size={16} />
                  </Table.Td>
                  <Table.Td>{rework.original_process}</Table.Td>
                  <Table.Td>{rework.defect_code}</Table.Td>
                  <Table.Td>{rework.rework_reason ?? ""}</Table.Td>
                  <Table.Td>{formatDateTime(rework.rework_started_at)}</Table.Td>
                  <Table.Td>{rework.final_result ? <StatusBadge status={rework.final_result} /> : <Badge>{t("rework.open")}</Badge>}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Stack>
  );
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={600}>{children}</Text>
    </div>
  );
}

function RecordIcon({ record }: { record: ProcessRecord }) {
  if (record.status === "IN_PROGRESS") return <IconClock size={14} />;
  return record.is_pass ? <IconCheck size={14} color="green" /> : <IconX size={14} color="red" />;
}

function RecordTitle({ record }: { record: ProcessRecord }) {
  const { t } = useI18n();
  return (
    <Group gap="xs">
      <Text fw={700}>
        {record.process_code} · {record.process_name}
      </Text>
      <StatusBadge status={record.status} />
      {record.work_order > 1 && <Badge color="grape">{t("serial.rework", { n: record.work_order })}</Badge>}
    </Group>
  );
}

function RecordBody({ record }: { record: ProcessRecord }) {
  const { t } = useI18n();
  return (
    <Stack gap={4}>
      <Text size="sm" c="dimmed">
        {formatDateTime(record.started_at)} → {formatDateTime(record.completed_at)} · {t("serial.cycle")}{" "}
        {formatSeconds(record.cycle_time)} / {formatSeconds(record.standard_cycle_time)} · {t("serial.operator")}{" "}
        {record.operator_id}
        {record.equipment_id ? ` · ${record.equipment_id}` : ""}
      </Text>
      {record.defect_code && (
        <Text size="sm" c="red">
          {t("serial.defect")}: {record.defect_code} {record.defect_description ?? ""}
        </Text>
      )}
      {record.process_specific_data && <DataFields data={record.process_specific_data} testId="process-data" />}
      {record.inspection_result && <DataFields data={record.inspection_result} />}
    </Stack>
  );
}
