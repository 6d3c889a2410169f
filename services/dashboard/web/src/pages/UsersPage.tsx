// Users and station tokens (ADMIN).
import { Alert, Badge, Button, Code, CopyButton, Group, Modal, NumberInput, Pagination, PasswordInput, Select, Stack, Table, Tabs, Text, TextInput, Title } from "@mantine/core";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import * as mes from "../api/mes";
import type { CreatedApiToken, Role } from "../api/types";
import { Empty, QueryView } from "../components/StateViews";
import { useI18n } from "../i18n";
import { formatDateTime } from "../lib/format";

const ROLES: Role[] = ["ADMIN", "SUPERVISOR", "OPERATOR"];

export default function UsersPage() {
  const { t } = useI18n();
  return (
    <Stack>
      <Title order={2}>{t("users.title")}</Title>
      <Tabs defaultValue="users" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="users">{t("users.users")}</Tabs.Tab>
          <Tabs.Tab value="tokens" data-testid="tab-tokens">
            {t("users.tokens")}
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="users" pt="md">
          <Users />
        </Tabs.Panel>
        <Tabs.Panel value="tokens" pt="md">
          <Tokens />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function Users() {
  const { t } = useI18n();
  const client = useQueryClient();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const users = useQuery({ queryKey: ["users", page], queryFn: () => mes.users(page, 20), placeholderData: keepPreviousData });
  const toggle = useMutation({
    mutationFn: ({ id, active }: { id: number; active: boolean }) => mes.updateUser(id, { is_active: active }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["users"] }),
  });
  return (
    <Stack>
      <Group>
        <Button onClick={() => setCreating(true)}>{t("users.create")}</Button>
      </Group>
      <QueryView query={users}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty />
          ) : (
            <Stack>
              <Table striped data-testid="users-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t("users.username")}</Table.Th>
                    <Table.Th>{t("users.fullName")}</Table.Th>
                    <Table.Th>{t("users.role")}</Table.Th>
                    <Table.Th>{t("users.lastLogin")}</Table.Th>
                    <Table.Th>{t("users.active")}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {data.items.map((user) => (
                    <Table.Tr key={user.id}>
                      <Table.Td>{user.username}</Table.Td>
                      <Table.Td>{user.full_name ?? ""}</Table.Td>
                      <Table.Td>{t(`role.${user.role}`)}</Table.Td>
                      <Table.Td>{formatDateTime(user.last_login_at)}</Table.Td>
                      <Table.Td>
                        <Group gap="xs">
                          <Badge color={user.is_active ? "green" : "gray"}>{user.is_active ? t("users.yes") : t("users.no")}</Badge>
                          <Button size="xs" variant="subtle" onClick={() => toggle.mutate({ id: user.id, active: !user.is_active })}>
                            {user.is_active ? t("users.deactivate") : t("users.activate")}
                          </Button>
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
              <Pagination total={Math.max(1, data.total_pages)} value={page} onChange={setPage} />
            </Stack>
          )
        }
      </QueryView>
      <CreateUser opened={creating} onClose={() => setCreating(false)} />
    </Stack>
  );
}

function CreateUser({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t, errorText } = useI18n();
  const client = useQueryClient();
  const [username, setUsername] = useState("");
  const [fullName, setFullName] = useState("");
  const [role, setRole] = useState<Role>("OPERATOR");
  const [password, setPassword] = useState("");
  const create = useMutation({
    mutationFn: () => mes.createUser({ username, password, role, ...(fullName ? { full_name: fullName } : {}) }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["users"] });
      setUsername("");
      setFullName("");
      setPassword("");
      onClose();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Modal opened={opened} onClose={onClose} title={t("users.create")}>
      <form onSubmit={submit}>
        <Stack>
          <TextInput label={t("users.username")} value={username} onChange={(e) => setUsername(e.currentTarget.value)} required />
          <TextInput label={t("users.fullName")} value={fullName} onChange={(e) => setFullName(e.currentTarget.value)} />
          <Select label={t("users.role")} data={ROLES.map((r) => ({ value: r, label: t(`role.${r}`) }))} value={role} onChange={(v) => v && setRole(v as Role)} />
          <PasswordInput label={t("login.password")} value={password} onChange={(e) => setPassword(e.currentTarget.value)} required autoComplete="new-password" />
          {create.error && (
            <Text c="red" size="sm" role="alert">
              {errorText(create.error)}
            </Text>
          )}
          <Button type="submit" loading={create.isPending}>
            {t("action.create")}
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}

function Tokens() {
  const { t, errorText } = useI18n();
  const client = useQueryClient();
  const tokens = useQuery({ queryKey: ["api-tokens"], queryFn: mes.apiTokens });
  const lines = useQuery({ queryKey: ["lines"], queryFn: mes.lines, staleTime: 60_000 });
  const [name, setName] = useState("");
  const [workstation, setWorkstation] = useState("");
  const [process, setProcess] = useState<string | null>(null);
  const [days, setDays] = useState<number | string>("");
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const [revoking, setRevoking] = useState<{ id: number; name: string } | null>(null);
  const create = useMutation({
    mutationFn: () =>
      mes.createApiToken({
        name,
        ...(workstation ? { workstation } : {}),
        ...(process ? { process_code: process } : {}),
        ...(days !== "" ? { expires_in_days: Number(days) } : {}),
      }),
    onSuccess: (token) => {
      setCreated(token);
      setName("");
      void client.invalidateQueries({ queryKey: ["api-tokens"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: number) => mes.revokeApiToken(id),
    onSuccess: () => {
      setRevoking(null);
      void client.invalidateQueries({ queryKey: ["api-tokens"] });
    },
  });
  const processes = (lines.data ?? []).flatMap((l) => l.processes.map((p) => p.code));
  return (
    <Stack>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Group align="end">
          <TextInput
            label={t("tokens.name")}
            placeholder="STATION-04"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            required
            data-testid="token-name"
          />
          <TextInput label={t("station.workstation")} value={workstation} onChange={(e) => setWorkstation(e.currentTarget.value)} />
          <Select label={t("station.process")} clearable data={[...new Set(processes)]} value={process} onChange={setProcess} />
          <NumberInput label={t("tokens.days")} min={1} max={3650} value={days} onChange={setDays} w={140} />
          <Button type="submit" loading={create.isPending} data-testid="token-create">
            {t("tokens.create")}
          </Button>
        </Group>
        {create.error && (
          <Text c="red" size="sm" role="alert">
            {errorText(create.error)}
          </Text>
        )}
      </form>
      {created && (
        <Alert color="green" title={t("tokens.created", { name: created.name })} withCloseButton onClose={() => setCreated(null)}>
          <Stack gap="xs">
            <Text size="sm">{t("tokens.showOnce")}</Text>
            <Group>
              <Code data-testid="new-token">{created.token}</Code>
              <CopyButton value={created.token}>
                {({ copied, copy }) => (
                  <Button size="xs" variant="light" onClick={copy}>
                    {copied ? t("tokens.copied") : t("tokens.copy")}
                  </Button>
                )}
              </CopyButton>
            </Group>
          </Stack>
        </Alert>
      )}
      <QueryView query={tokens}>
        {(data) =>
          data.length === 0 ? (
            <Empty>{t("tokens.empty")}</Empty>
          ) : (
            <Table striped data-testid="tokens-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("tokens.name")}</Table.Th>
                  <Table.Th>{t("tokens.prefix")}</Table.Th>
                  <Table.Th>{t("station.workstation")}</Table.Th>
                  <Table.Th>{t("station.process")}</Table.Th>
                  <Table.Th>{t("tokens.lastUsed")}</Table.Th>
                  <Table.Th>{t("tokens.expires")}</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.map((token) => (
                  <Table.Tr key={token.id}>
                    <Table.Td>{token.name}</Table.Td>
                    <Table.Td className="mono">{token.token_prefix}…</Table.Td>
                    <Table.Td>{token.workstation ?? ""}</Table.Td>
                    <Table.Td>{token.process_code ?? ""}</Table.Td>
                    <Table.Td>{formatDateTime(token.last_used_at)}</Table.Td>
                    <Table.Td>{formatDateTime(token.expires_at)}</Table.Td>
                    <Table.Td>
                      {token.revoked_at ? (
                        <Badge color="gray">{t("tokens.revoked")}</Badge>
                      ) : (
                        <Button size="xs" color="red" variant="light" onClick={() => setRevoking({ id: token.id, name: token.name })}>
                          {t("tokens.revoke")}
                        </Button>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )
        }
      </QueryView>
      <Modal opened={revoking !== null} onClose={() => setRevoking(null)} title={t("tokens.revoke")}>
        <Stack>
          <Text>{t("tokens.revokeConfirm", { name: revoking?.name ?? "" })}</Text>
          <Group justify="end">
            <Button variant="default" onClick={() => setRevoking(null)}>
              {t("action.cancel")}
            </Button>
            <Button color="red" loading={revoke.isPending} onClick={() => revoking && revoke.mutate(revoking.id)}>
              {t("tokens.revoke")}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
