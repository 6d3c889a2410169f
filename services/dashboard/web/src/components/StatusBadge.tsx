// Colored badges for LOT, serial, record and pod states.
import { Badge } from "@mantine/core";
import { useI18n } from "../i18n";
import { isMessageKey } from "../i18n/messages";

const COLORS: Record<string, string> = {
  CREATED: "gray",
  IN_PROGRESS: "blue",
  COMPLETED: "green",
  CANCELLED: "dark",
  DEFECTIVE: "red",
  FAILED: "red",
  SCRAPPED: "dark",
  PASS: "green",
  SCRAP: "dark",
  Running: "green",
  Succeeded: "teal",
  Pending: "yellow",
  Failed: "red",
  Unknown: "gray",
};

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const key = `status.${status}`;
  return (
    <Badge color={COLORS[status] ?? "gray"} variant="light" data-status={status}>
      {isMessageKey(key) ? t(key) : status}
    </Badge>
  );
}
