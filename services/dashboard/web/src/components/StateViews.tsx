// Loading, empty and error states, the same on every page.
import { Alert, Button, Center, Group, Loader, Stack, Text } from "@mantine/core";
import { IconAlertTriangle, IconInbox } from "@tabler/icons-react";
import type { ReactNode } from "react";
import { useI18n } from "../i18n";

export function Loading({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <Center py="xl" data-testid="loading">
      <Group gap="sm">
        <Loader size="sm" />
        <Text c="dimmed">{label ?? t("state.loading")}</Text>
      </Group>
    </Center>
  );
}

export function Empty({ children }: { children?: ReactNode }) {
  const { t } = useI18n();
  return (
    <Center py="xl" data-testid="empty">
      <Stack align="center" gap={4}>
        <IconInbox size={32} stroke={1.5} color="var(--mantine-color-gray-5)" />
        <Text c="dimmed">{children ?? t("state.empty")}</Text>
      </Stack>
    </Center>
  );
}

export function ErrorState({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const { t, errorText } = useI18n();
  return (
    <Alert color="red" icon={<IconAlertTriangle size={18} />} title={title ?? t("state.error")} data-testid="error">
      <Stack gap="xs">
        <Text size="sm">{errorText(error)}</Text>
        {onRetry && (
          <Group>
            <Button size="xs" variant="light" color="red" onClick={onRetry}>
              {t("action.retry")}
            </Button>
          </Group>
        )}
      </Stack>
    </Alert>
  );
}

interface QueryLike<T> {
  data: T | undefined;
  error: unknown;
  isPending: boolean;
  refetch: () => unknown;
}

/** Renders a query's loading and error states, or `children(data)`. */
export function QueryView<T>({ query, children }: { query: QueryLike<T>; children: (data: T) => ReactNode }) {
  if (query.isPending) return <Loading />;
  if (query.error || query.data === undefined) {
    return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  }
  return <>{children(query.data)}</>;
}
