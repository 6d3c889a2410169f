// A pod's container log: the last lines, then — with "follow" — new lines as they come (SSE).
import { Badge, Drawer, Group, ScrollArea, Stack, Switch, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import * as infra from "../api/infra";
import { useI18n } from "../i18n";
import { ErrorState, Loading } from "./StateViews";

const TAIL = 200;
const KEEP = 2000;

export function LogsDrawer({ pod, onClose }: { pod: string | null; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Drawer opened={pod !== null} onClose={onClose} position="right" size="xl" title={t("logs.title", { pod: pod ?? "" })}>
      {pod && <Logs pod={pod} />}
    </Drawer>
  );
}

function Logs({ pod }: { pod: string }) {
  const { t } = useI18n();
  const [follow, setFollow] = useState(false);
  const [followed, setFollowed] = useState<string[]>([]);
  const [streamError, setStreamError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  const viewport = useRef<HTMLDivElement>(null);
  const snapshot = useQuery({ queryKey: ["logs", pod], queryFn: () => infra.logs(pod, TAIL), enabled: !follow });

  useEffect(() => {
    if (!follow) return undefined;
    const abort = new AbortController();
    setFollowed([]);
    setStreamError(null);
    infra
      .stream(
        `/api/infra/pods/${encodeURIComponent(pod)}/logs`,
        { follow: true, tail: TAIL },
        {
          onOpen: () => setStreaming(true),
          onEvent: (_event, data) => setFollowed((lines) => [...lines, data].slice(-KEEP)),
        },
        abort.signal,
      )
      .catch(setStreamError)
      .finally(() => setStreaming(false));
    return () => abort.abort();
  }, [follow, pod]);

  const lines = follow ? followed : (snapshot.data?.lines ?? []);
  // Keep the newest line in view by scrolling the log pane only (scrollIntoView would scroll the
  // drawer too, moving the controls away).
  useEffect(() => {
    const pane = viewport.current;
    if (pane) pane.scrollTop = pane.scrollHeight;
  }, [lines.length]);

  return (
    <Stack>
      <Group justify="space-between">
        <Switch label={t("logs.follow")} checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} data-testid="logs-follow" />
        {follow && (
          <Badge color={streaming ? "green" : "gray"} variant="dot">
            {streaming ? t("logs.streaming") : t("logs.ended")}
          </Badge>
        )}
      </Group>
      {!follow && snapshot.isPending && <Loading />}
      {!follow && snapshot.error && <ErrorState error={snapshot.error} onRetry={() => void snapshot.refetch()} />}
      {follow && streamError !== null && <ErrorState error={streamError} />}
      <ScrollArea h="70vh" viewportRef={viewport}>
        <div className="log-view" data-testid="log-lines">
          {lines.length === 0 ? <Text c="dimmed">{t("logs.empty")}</Text> : lines.join("\n")}
        </div>
      </ScrollArea>
    </Stack>
  );
}
