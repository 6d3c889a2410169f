// The newest realtime events, newest first.
import { Badge, Group, Paper, ScrollArea, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import type { FeedEvent } from "../api/types";
import { useI18n } from "../i18n";
import { formatTime } from "../lib/format";
import { useRealtime } from "../session/RealtimeProvider";
import { Empty } from "./StateViews";

const KEEP = 50;

export function eventColor(event: FeedEvent): string {
  if (event.type === "rework") return "grape";
  return event.event === "started" ? "blue" : event.event === "completed" ? "green" : "red";
}

export function EventFeed() {
  const { t } = useI18n();
  const [events, setEvents] = useState<FeedEvent[]>([]);
  useRealtime((event) => {
    if (event.type === "resync" || event.type === "lot") return;
    setEvents((current) => [event, ...current].slice(0, KEEP));
  });
  return (
    <Paper withBorder p="sm" h="100%">
      <Title order={5} mb="xs">
        {t("overview.feed")}
      </Title>
      {events.length === 0 ? (
        <Empty>{t("overview.feedEmpty")}</Empty>
      ) : (
        <ScrollArea h={560}>
          <Stack gap={6} data-testid="event-feed">
            {events.map((event, index) => (
              <div key={`${event.at}-${index}`} data-testid="feed-item">
                <Group gap={6} wrap="nowrap">
                  <Text size="xs" c="dimmed" className="mono">
                    {formatTime(event.at)}
                  </Text>
                  <Badge size="xs" color={eventColor(event)} variant="light" style={{ flexShrink: 0 }}>
                    {t(`event.${event.event}`)}
                  </Badge>
                  <Text size="xs" fw={600}>
                    {event.process_code}
                  </Text>
                </Group>
                <Text size="xs" className="mono" truncate>
                  {event.serial_number}
                </Text>
              </div>
            ))}
          </Stack>
        </ScrollArea>
      )}
    </Paper>
  );
}
