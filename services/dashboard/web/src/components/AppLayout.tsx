// The frame around every page: role-aware navigation, language switch, live status, logout.
import { AppShell, Burger, Group, NavLink, ScrollArea, SegmentedControl, Text, Button, Divider } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconLogout } from "@tabler/icons-react";
import { Suspense, type ReactNode } from "react";
import { NavLink as RouterLink, useLocation } from "react-router";
import { useI18n } from "../i18n";
import type { Lang } from "../i18n/messages";
import { type NavItem, navFor } from "../lib/nav";
import { useSession, useUser } from "../session/SessionProvider";
import { LiveIndicator } from "./LiveIndicator";
import { Loading } from "./StateViews";

const GROUPS: NavItem["group"][] = ["production", "infra", "admin"];

export function AppLayout({ children }: { children: ReactNode }) {
  const [opened, { toggle, close }] = useDisclosure();
  const user = useUser();
  const { end } = useSession();
  const { t } = useI18n();
  const location = useLocation();
  const items = navFor(user.role);

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 230, breakpoint: "sm", collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t("nav.menu")} />
            <Text fw={700}>{t("app.title")}</Text>
            <LiveIndicator />
          </Group>
          <Group gap="sm" wrap="nowrap">
            <LanguageSwitch />
            <Text size="sm" data-testid="current-user">
              {user.name} · {t(`role.${user.role}`)}
            </Text>
            <Button
              size="xs"
              variant="subtle"
              leftSection={<IconLogout size={16} />}
              onClick={() => end("logout")}
              data-testid="logout"
            >
              {t("action.logout")}
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" data-testid="nav">
        <ScrollArea>
          {GROUPS.map((group) => {
            const inGroup = items.filter((item) => item.group === group);
            if (inGroup.length === 0) return null;
            return (
              <div key={group}>
                <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" pt="sm" pb={4}>
                  {t(`nav.group.${group}`)}
                </Text>
                {inGroup.map((item) => (
                  <NavLink
                    key={item.id}
                    component={RouterLink}
                    to={item.path}
                    label={t(item.label)}
                    active={location.pathname.startsWith(item.path)}
                    onClick={close}
                    data-testid={`nav-${item.id}`}
                  />
                ))}
              </div>
            );
          })}
          <Divider my="sm" />
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<Loading />}>{children}</Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

export function LanguageSwitch() {
  const { lang, setLang } = useI18n();
  return (
    <SegmentedControl
      size="xs"
      value={lang}
      onChange={(value) => setLang(value as Lang)}
      data={[
        { value: "ko", label: "한국어" },
        { value: "en", label: "EN" },
      ]}
      data-testid="lang-switch"
    />
  );
}
