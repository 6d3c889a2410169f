import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "./app.css";
import { MantineProvider, createTheme } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { endsSession } from "./api/client";
import { App } from "./App";
import { I18nProvider } from "./i18n";
import { RealtimeProvider } from "./session/RealtimeProvider";
import { SessionProvider } from "./session/SessionProvider";

const theme = createTheme({
  // System fonts only (nothing is downloaded): Korean glyphs come from Malgun Gothic on the
  // Windows station PCs, Apple SD Gothic Neo on Macs, Noto Sans CJK on Linux.
  fontFamily:
    "system-ui, -apple-system, 'Segoe UI', 'Malgun Gothic', 'Apple SD Gothic Neo', 'Noto Sans CJK KR', 'Noto Sans KR', Roboto, sans-serif",
  primaryColor: "blue",
  defaultRadius: "sm",
});

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      refetchOnWindowFocus: false,
      // A rejected session is not retried; it ends (see SessionProvider).
      retry: (failures, error) => !endsSession(error) && failures < 2,
    },
  },
});

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing from index.html");

createRoot(root).render(
  <StrictMode>
    <MantineProvider theme={theme}>
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <I18nProvider>
          <SessionProvider>
            <RealtimeProvider>
              <BrowserRouter>
                <App />
              </BrowserRouter>
            </RealtimeProvider>
          </SessionProvider>
        </I18nProvider>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
