// Rollout restart of a Deployment, with a confirmation. Rendered only for ADMIN.
import { Button, Group, Modal, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconRefresh } from "@tabler/icons-react";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import * as infra from "../api/infra";
import { useI18n } from "../i18n";
import { can } from "../lib/nav";
import { useUser } from "../session/SessionProvider";

export function RestartButton({ deployment }: { deployment: string }) {
  const user = useUser();
  const { t, errorText } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const restart = useMutation({
    mutationFn: () => infra.restart(deployment),
    onSuccess: (answer) => {
      setConfirming(false);
      notifications.show({ color: "green", message: t("infra.restarted", { name: answer.deployment }) });
    },
  });
  if (!can.restartDeployment(user.role)) return null;
  return (
    <>
      <Button
        size="xs"
        variant="light"
        color="orange"
        leftSection={<IconRefresh size={14} />}
        onClick={() => setConfirming(true)}
        data-testid={`restart-${deployment}`}
      >
        {t("infra.restart")}
      </Button>
      <Modal opened={confirming} onClose={() => setConfirming(false)} title={t("infra.restartTitle")}>
        <Stack>
          <Text>{t("infra.restartConfirm", { name: deployment })}</Text>
          {restart.error && (
            <Text c="red" size="sm" role="alert">
              {errorText(restart.error)}
            </Text>
          )}
          <Group justify="end">
            <Button variant="default" onClick={() => setConfirming(false)}>
              {t("action.cancel")}
            </Button>
            <Button color="orange" loading={restart.isPending} onClick={() => restart.mutate()} data-testid="restart-confirm">
              {t("infra.restart")}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
