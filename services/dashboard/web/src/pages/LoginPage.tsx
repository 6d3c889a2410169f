// Login with user name and password, or — at a station PC — by scanning the station's token.
import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, Tabs, Text, TextInput, Title } from "@mantine/core";
import { IconInfoCircle } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import * as mes from "../api/mes";
import { LanguageSwitch } from "../components/AppLayout";
import { useI18n } from "../i18n";
import { homeFor } from "../lib/nav";
import { classifyScan } from "../lib/scan";
import { useSession } from "../session/SessionProvider";

export function LoginPage() {
  const { session, endReason } = useSession();
  const { t } = useI18n();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  if (session) return <Navigate to={from && from !== "/login" ? from : homeFor(session.user.role)} replace />;

  return (
    <Center mih="100vh" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" w={400}>
        <Stack>
          <Group justify="space-between">
            <Title order={3}>{t("app.title")}</Title>
            <LanguageSwitch />
          </Group>
          {endReason && endReason !== "logout" && (
            <Alert color="orange" icon={<IconInfoCircle size={18} />} data-testid="session-ended">
              {t(endReason === "expired" ? "login.expired" : "login.revoked")}
            </Alert>
          )}
          <Tabs defaultValue="user">
            <Tabs.List grow>
              <Tabs.Tab value="user">{t("login.tabUser")}</Tabs.Tab>
              <Tabs.Tab value="station" data-testid="tab-station">
                {t("login.tabStation")}
              </Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="user" pt="md">
              <UserLogin />
            </Tabs.Panel>
            <Tabs.Panel value="station" pt="md">
              <StationLogin />
            </Tabs.Panel>
          </Tabs>
        </Stack>
      </Paper>
    </Center>
  );
}

function UserLogin() {
  const { start } = useSession();
  const { t, errorText } = useI18n();
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await mes.login(username.trim(), password);
      start(answer.access_token, { name: answer.user.username, role: answer.user.role, kind: "user" });
      navigate(homeFor(answer.user.role), { replace: true });
    } catch (cause) {
      setError(errorText(cause));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit}>
      <Stack>
        <TextInput
          label={t("login.username")}
          value={username}
          onChange={(e) => setUsername(e.currentTarget.value)}
          autoComplete="username"
          required
          autoFocus
          name="username"
        />
        <PasswordInput
          label={t("login.password")}
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          autoComplete="current-password"
          required
          name="password"
        />
        {error && (
          <Text c="red" size="sm" role="alert" data-testid="login-error">
            {error}
          </Text>
        )}
        <Button type="submit" loading={busy} data-testid="login-submit">
          {t("login.submit")}
        </Button>
      </Stack>
    </form>
  );
}

function StationLogin() {
  const { start } = useSession();
  const { t, errorText } = useI18n();
  const navigate = useNavigate();
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const scan = classifyScan(value);
    setValue("");
    if (scan.kind !== "station-token") {
      setError(t("login.notStationToken"));
      return;
    }
    try {
      const who = await mes.me(scan.token);
      start(scan.token, { name: who.name, role: who.role, kind: who.kind });
      navigate("/station", { replace: true });
    } catch (cause) {
      setError(errorText(cause));
    }
  }

  return (
    <form onSubmit={submit}>
      <Stack>
        <Text size="sm" c="dimmed">
          {t("login.stationHelp")}
        </Text>
        <PasswordInput
          label={t("login.stationToken")}
          value={value}
          onChange={(e) => setValue(e.currentTarget.value)}
          autoComplete="off"
          data-testid="station-token-input"
        />
        {error && (
          <Text c="red" size="sm" role="alert">
            {error}
          </Text>
        )}
        <Button type="submit">{t("login.submit")}</Button>
      </Stack>
    </form>
  );
}
