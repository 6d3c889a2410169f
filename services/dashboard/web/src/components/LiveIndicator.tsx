import { Badge } from "@mantine/core";
import { useI18n } from "../i18n";
import { useRealtimeStatus } from "../session/RealtimeProvider";

export function LiveIndicator() {
  const status = useRealtimeStatus();
  const { t } = useI18n();
  const color = status === "live" ? "green" : status === "connecting" ? "yellow" : "red";
  return (
    <Badge color={color} variant="dot" data-testid="live-status" data-status={status}>
      {t(`live.${status}`)}
    </Badge>
  );
}
