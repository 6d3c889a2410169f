// Routes: the login page, then every page behind the session guard and the role table of
// lib/nav.ts. Pages other than the overview are loaded on demand.
import { lazy, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { AppLayout } from "./components/AppLayout";
import { type PageId, canOpen, homeFor } from "./lib/nav";
import { LoginPage } from "./pages/LoginPage";
// The landing page of supervisors and admins is part of the main bundle (no extra round trip).
import OverviewPage from "./pages/OverviewPage";
import { useSession } from "./session/SessionProvider";

const LotsPage = lazy(() => import("./pages/LotsPage"));
const LotDetailPage = lazy(() => import("./pages/LotDetailPage"));
const SerialPage = lazy(() => import("./pages/SerialPage"));
const StationPage = lazy(() => import("./pages/StationPage"));
const ReworkPage = lazy(() => import("./pages/ReworkPage"));
const InfraStatusPage = lazy(() => import("./pages/InfraStatusPage"));
const PodsPage = lazy(() => import("./pages/PodsPage"));
const NetworkPage = lazy(() => import("./pages/NetworkPage"));
const UsersPage = lazy(() => import("./pages/UsersPage"));

function Guard({ page, children }: { page: PageId; children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  if (!canOpen(session.user.role, page)) return <Navigate to={homeFor(session.user.role)} replace />;
  return <AppLayout>{children}</AppLayout>;
}

export function App() {
  const { session } = useSession();
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/overview" element={<Guard page="overview"><OverviewPage /></Guard>} />
      <Route path="/lots" element={<Guard page="lots"><LotsPage /></Guard>} />
      <Route path="/lots/:lotNumber" element={<Guard page="lots"><LotDetailPage /></Guard>} />
      <Route path="/serials" element={<Guard page="serials"><SerialPage /></Guard>} />
      <Route path="/serials/:serialNumber" element={<Guard page="serials"><SerialPage /></Guard>} />
      <Route path="/station" element={<Guard page="station"><StationPage /></Guard>} />
      <Route path="/rework" element={<Guard page="rework"><ReworkPage /></Guard>} />
      <Route path="/infra/status" element={<Guard page="infra-status"><InfraStatusPage /></Guard>} />
      <Route path="/infra/pods" element={<Guard page="infra-pods"><PodsPage /></Guard>} />
      <Route path="/infra/network" element={<Guard page="infra-network"><NetworkPage /></Guard>} />
      <Route path="/users" element={<Guard page="users"><UsersPage /></Guard>} />
      <Route path="*" element={<Navigate to={session ? homeFor(session.user.role) : "/login"} replace />} />
    </Routes>
  );
}
