// Defects and the rework queue: failed process records, open reworks (supervisors decide
// PASS/SCRAP) and completed ones. Operators see the lists; deciding is not offered to them.
import { Badge, Button, Group, Modal, Pagination, Stack, Table, Tabs, Text, TextInput, Title } from "@mantine/core";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import * as mes from "../api/mes";
import type { ReworkRecord } from "../api/types";
import { StatusBadge } from "../components/StatusBadge";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatDateTime } from "../lib/format";
import { can } from "../lib/nav";
import { useLiveRefresh } from "../lib/useLiveRefresh";
import { useUser } from "../session/SessionProvider";

const PAGE_SIZE = 20;

export default function ReworkPage() {
  const { t } = useI18n();
  const user = useUser();
  useLiveRefresh([["reworks"], ["defects"]], (event) => event.type === "rework" || event.event === "failed");
  return (
    <Stack>
      <Title order={2}>{t("rework.title")}</Title>
      {can.handleRework(user.role) && <OpenRework />}
      <Tabs defaultValue="open" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="open">{t("rework.queue")}</Tabs.Tab>
          <Tabs.Tab value="defects">{t("rework.defects")}</Tabs.Tab>
          <Tabs.Tab value="completed">{t("rework.completed")}</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="open" pt="md">
          <Reworks status="open" />
        </Tabs.Panel>
        <Tabs.Panel value="defects" pt="md">
          <Defects />
        </Tabs.Panel>
        <Tabs.Panel value="completed" pt="md">
          <Reworks status="completed" />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function OpenRework() {
  const { t, errorText } = useI18n();
  const client = useQueryClient();
  const [serial, setSerial] = useState("");
  const [reason, setReason] = useState("");
  const open = useMutation({
    mutationFn: () => mes.openRework(serial.trim().toUpperCase(), reason.trim()),
    onSuccess: () => {
      setSerial("");
      setReason("");
      void client.invalidateQueries({ queryKey: ["reworks"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    open.mutate();
  };
  return (
    <form onSubmit={submit}>
      <Group align="end">
        <TextInput
          label={t("rework.serial")}
          value={serial}
          onChange={(e) => setSerial(e.currentTarget.value)}
          className="mono"
          w={280}
          required
          data-testid="rework-serial"
        />
        <TextInput label={t("rework.reason")} value={reason} onChange={(e) => setReason(e.currentTarget.value)} w={280} data-testid="rework-reason" />
        <Button type="submit" loading={open.isPending} data-testid="rework-open">
          {t("rework.openAction")}
        </Button>
        {open.error && (
          <Text c="red" size="sm" role="alert">
            {errorText(open.error)}
          </Text>
        )}
      </Group>
    </form>
  );
}

function Reworks({ status }: { status: "open" | "completed" }) {
  const { t } = useI18n();
  const user = useUser();
  const [page, setPage] = useState(1);
  const [deciding, setDeciding] = useState<{ rework: ReworkRecord; result: "PASS" | "SCRAP" } | null>(null);
  const reworks = useQuery({
    queryKey: ["reworks", status, page],
    queryFn: () => mes.reworks(status, page, PAGE_SIZE),
    placeholderData: keepPreviousData,
  });
  return (
    <QueryView query={reworks}>
      {(data) =>
        data.items.length === 0 ? (
          <Empty>{t(status === "open" ? "rework.queueEmpty" : "rework.completedEmpty")}</Empty>
        ) : (
          <Stack>
            <Table striped data-testid={`reworks-${status}`}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("rework.serial")}</Table.Th>
                  <Table.Th>{t("rework.process")}</Table.Th>
                  <Table.Th>{t("rework.defectCode")}</Table.Th>
                  <Table.Th>{t("rework.reason")}</Table.Th>
                  <Table.Th>{t("rework.operator")}</Table.Th>
                  <Table.Th>{t("rework.startedAt")}</Table.Th>
                  <Table.Th>{status === "open" ? "" : t("rework.result")}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.items.map((rework) => (
                  <Table.Tr key={rework.id}>
                    <Table.Td className="mono">
                      <Link to={`/serials/${encodeURIComponent(rework.serial_number)}`}>{rework.serial_number}</Link>
                    </Table.Td>
                    <Table.Td>{rework.original_process}</Table.Td>
                    <Table.Td>
                      <Badge color="red" variant="light">
                        {rework.defect_code}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{rework.rework_reason ?? ""}</Table.Td>
                    <Table.Td>{rework.rework_operator}</Table.Td>
                    <Table.Td>{formatDateTime(rework.rework_started_at)}</Table.Td>
                    <Table.Td>
                      {status === "completed" ? (
                        rework.final_result && <StatusBadge status={rework.final_result} />
                      ) : can.handleRework(user.role) ? (
                        <Group gap="xs">
                          <Button size="xs" color="green" onClick={() => setDeciding({ rework, result: "PASS" })}>
                            {t("rework.pass")}
                          </Button>
                          <Button
                            size="xs"
                            color="dark"
                            onClick={() => setDeciding({ rework, result: "SCRAP" })}
                            data-testid={`scrap-${rework.serial_number}`}
                          >
                            {t("rework.scrap")}
                          </Button>
                        </Group>
                      ) : null}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
            <Pagination total={Math.max(1, data.total_pages)} value={page} onChange={setPage} />
            {deciding && <Decide {...deciding} onClose={() => setDeciding(null)} />}
          </Stack>
        )
      }
    </QueryView>
  );
}

function Decide({ rework, result, onClose }: { rework: ReworkRecord; result: "PASS" | "SCRAP"; onClose: () => void }) {
  const { t, errorText } = useI18n();
  const client = useQueryClient();
  const decide = useMutation({
    mutationFn: () => mes.completeRework(rework.id, result),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["reworks"] });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={t(result === "PASS" ? "rework.confirmPass" : "rework.confirmScrap")}>
      <Stack>
        <Text className="mono">{rework.serial_number}</Text>
        {decide.error && (
          <Text c="red" size="sm" role="alert">
            {errorText(decide.error)}
          </Text>
        )}
        <Group justify="end">
          <Button variant="default" onClick={onClose}>
            {t("action.cancel")}
          </Button>
          <Button
            color={result === "PASS" ? "green" : "dark"}
            loading={decide.isPending}
            onClick={() => decide.mutate()}
            data-testid="rework-decide"
          >
            {t(result === "PASS" ? "rework.pass" : "rework.scrap")}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function Defects() {
  const { t } = useI18n();
  const [page, setPage] = useState(1);
  const defects = useQuery({
    queryKey: ["defects", page],
    queryFn: () => mes.failedRecords(page, PAGE_SIZE),
    placeholderData: keepPreviousData,
  });
  return (
    <QueryView query={defects}>
      {(data) =>
        data.items.length === 0 ? (
          <Empty>{t("rework.defectsEmpty")}</Empty>
        ) : (
          <Stack>
            <Table striped data-testid="defects">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("rework.completedAt")}</Table.Th>
                  <Table.Th>{t("rework.serial")}</Table.Th>
                  <Table.Th>{t("rework.process")}</Table.Th>
                  <Table.Th>{t("rework.defectCode")}</Table.Th>
                  <Table.Th>{t("rework.description")}</Table.Th>
                  <Table.Th>{t("rework.operator")}</Table.Th>
                  <Table.Th>{t("rework.equipment")}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.items.map((record) => (
                  <Table.Tr key={record.process_data_id}>
                    <Table.Td>{formatDateTime(record.completed_at)}</Table.Td>
                    <Table.Td className="mono">
                      <Link to={`/serials/${encodeURIComponent(record.serial_number)}`}>{record.serial_number}</Link>
                    </Table.Td>
                    <Table.Td>
                      {record.process_code} · {record.process_name}
                    </Table.Td>
                    <Table.Td>
                      <Badge color="red" variant="light">
                        {record.defect_code ?? "–"}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{record.defect_description ?? ""}</Table.Td>
                    <Table.Td>{record.operator_id}</Table.Td>
                    <Table.Td>{record.equipment_id ?? record.workstation ?? ""}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
            <Pagination total={Math.max(1, data.total_pages)} value={page} onChange={setPage} />
          </Stack>
        )
      }
    </QueryView>
  );
}
