// The station START page for a keyboard-wedge barcode scanner: scan a badge (who works), then
// serials. Every scan lands in the scan field wherever the focus was; the answer is a full-width
// green or red panel with the reason in words, and a sound. No mouse needed.
import { Badge, Group, Paper, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import * as mes from "../api/mes";
import type { StartResponse } from "../api/types";
import { useI18n } from "../i18n";
import { playCue } from "../lib/beep";
import { formatTime } from "../lib/format";
import { classifyScan } from "../lib/scan";
import { useSession, useUser } from "../session/SessionProvider";

interface StationSettings {
  processCode: string | null;
  workstation: string;
}

type Result =
  | { kind: "idle" }
  | { kind: "ok"; title: string; detail: string }
  | { kind: "error"; title: string; detail: string };

interface HistoryEntry {
  at: string;
  serial: string;
  ok: boolean;
  text: string;
}

const SETTINGS_KEY = "mes.station";

function loadSettings(): StationSettings {
  try {
    const stored = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "null") as StationSettings | null;
    if (stored) return stored;
  } catch {
    // fall through to defaults
  }
  return { processCode: null, workstation: "" };
}

export default function StationPage() {
  const { t, errorText } = useI18n();
  const user = useUser();
  const { start } = useSession();
  const [settings, setSettings] = useState<StationSettings>(loadSettings);
  const [operatorId, setOperatorId] = useState<string | null>(user.kind === "user" ? user.name : null);
  const [result, setResult] = useState<Result>({ kind: "idle" });
  const [history, setHistory] = useState<HistoryEntry[]>([]);
  const [scan, setScan] = useState("");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const lines = useQuery({ queryKey: ["lines"], queryFn: mes.lines, staleTime: 60_000 });
  const processes = (lines.data ?? []).flatMap((line) =>
    line.processes.map((p) => ({ value: p.code, label: `${p.code} · ${p.name} (${line.line_code})` })),
  );
  const processCode = settings.processCode ?? processes[0]?.value ?? null;

  const save = (next: StationSettings) => {
    setSettings(next);
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(next));
  };

  // Hands-free: keys typed anywhere on the page go to the scan field.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
      if (event.key.length === 1 || event.key === "Enter") input.current?.focus();
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, []);

  const report = useCallback((ok: boolean, title: string, detail: string, serial: string) => {
    setResult({ kind: ok ? "ok" : "error", title, detail });
    playCue(ok ? "ok" : "error");
    setHistory((current) => [{ at: new Date().toISOString(), serial, ok, text: ok ? detail : title }, ...current].slice(0, 10));
  }, []);

  async function handle(raw: string) {
    const scanned = classifyScan(raw);
    switch (scanned.kind) {
      case "invalid":
        report(false, t("station.unreadable"), raw, raw);
        return;
      case "badge":
        setOperatorId(scanned.operatorId);
        setResult({ kind: "idle" });
        playCue("info");
        return;
      case "station-token":
        try {
          const who = await mes.me(scanned.token);
          start(scanned.token, { name: who.name, role: who.role, kind: who.kind });
          setOperatorId(null);
          setResult({ kind: "idle" });
          playCue("info");
        } catch (error) {
          report(false, t("station.tokenRejected"), errorText(error), "");
        }
        return;
      case "serial":
        if (!operatorId) {
          report(false, t("station.badgeFirst"), t("station.badgeFirstDetail"), scanned.serial);
          return;
        }
        if (!processCode) {
          report(false, t("station.noProcess"), "", scanned.serial);
          return;
        }
        try {
          const started: StartResponse = await mes.startProcess({
            serial_number: scanned.serial,
            process_code: processCode,
            operator_id: operatorId,
            ...(settings.workstation ? { workstation: settings.workstation } : {}),
          });
          report(
            true,
            t("station.started"),
            t("station.startedDetail", {
              serial: started.serial_number,
              process: `${started.process_code} · ${started.process_name}`,
            }),
            started.serial_number,
          );
        } catch (error) {
          report(false, errorText(error), scanned.serial, scanned.serial);
        }
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const value = scan;
    setScan("");
    if (!value.trim() || busy) return;
    setBusy(true);
    try {
      await handle(value);
    } finally {
      setBusy(false);
      input.current?.focus();
    }
  }

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t("station.title")}</Title>
        <Group>
          <Badge size="lg" variant="light" color={operatorId ? "blue" : "orange"} data-testid="station-operator">
            {operatorId ? t("station.operator", { id: operatorId }) : t("station.noOperator")}
          </Badge>
          {user.kind === "station" && <Badge size="lg" variant="outline">{t("station.asStation", { name: user.name })}</Badge>}
        </Group>
      </Group>
      <Group align="end">
        <Select
          label={t("station.process")}
          data={processes}
          value={processCode}
          onChange={(value) => save({ ...settings, processCode: value })}
          w={320}
          data-testid="station-process"
        />
        <TextInput
          label={t("station.workstation")}
          value={settings.workstation}
          onChange={(e) => save({ ...settings, workstation: e.currentTarget.value })}
          w={200}
        />
      </Group>
      <form onSubmit={submit}>
        <TextInput
          ref={input}
          size="xl"
          label={t("station.scan")}
          placeholder={operatorId ? t("station.scanSerial") : t("station.scanBadge")}
          value={scan}
          onChange={(e) => setScan(e.currentTarget.value)}
          autoFocus
          autoComplete="off"
          className="mono"
          data-testid="scan-input"
        />
      </form>
      <div className={`station-result station-${result.kind}`} data-testid="station-result" data-result={result.kind} aria-live="assertive">
        {result.kind === "idle" ? (
          <Text size="xl">{operatorId ? t("station.readySerial") : t("station.readyBadge")}</Text>
        ) : (
          <>
            <Text fz={40} fw={800} data-testid="station-result-title">
              {result.title}
            </Text>
            <Text size="xl" className="mono" data-testid="station-result-detail">
              {result.detail}
            </Text>
          </>
        )}
      </div>
      {history.length > 0 && (
        <Paper withBorder p="sm">
          <Table>
            <Table.Tbody>
              {history.map((entry, index) => (
                <Table.Tr key={`${entry.at}-${index}`}>
                  <Table.Td className="mono">{formatTime(entry.at)}</Table.Td>
                  <Table.Td>
                    <Badge color={entry.ok ? "green" : "red"}>{entry.ok ? "OK" : "NG"}</Badge>
                  </Table.Td>
                  <Table.Td className="mono">{entry.serial}</Table.Td>
                  <Table.Td>{entry.text}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Stack>
  );
}
