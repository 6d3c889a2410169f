// Which pages each role is offered (SPEC §4 permission matrix; docs/api.md, docs/infra-api.md).
// What a role cannot do is not offered: the navigation and the routes both use this table.
import type { Role } from "../api/types";
import type { MessageKey } from "../i18n/messages";

export type PageId =
  | "overview"
  | "lots"
  | "serials"
  | "station"
  | "rework"
  | "infra-status"
  | "infra-pods"
  | "infra-network"
  | "users";

export interface NavItem {
  id: PageId;
  path: string;
  label: MessageKey;
  group: "production" | "infra" | "admin";
  roles: readonly Role[];
}

const SUPERVISORS: readonly Role[] = ["ADMIN", "SUPERVISOR"];
const EVERYONE: readonly Role[] = ["ADMIN", "SUPERVISOR", "OPERATOR"];

export const NAV: readonly NavItem[] = [
  { id: "overview", path: "/overview", label: "nav.overview", group: "production", roles: SUPERVISORS },
  { id: "lots", path: "/lots", label: "nav.lots", group: "production", roles: SUPERVISORS },
  { id: "serials", path: "/serials", label: "nav.serials", group: "production", roles: SUPERVISORS },
  { id: "station", path: "/station", label: "nav.station", group: "production", roles: EVERYONE },
  { id: "rework", path: "/rework", label: "nav.rework", group: "production", roles: EVERYONE },
  { id: "infra-status", path: "/infra/status", label: "nav.infraStatus", group: "infra", roles: SUPERVISORS },
  { id: "infra-pods", path: "/infra/pods", label: "nav.infraPods", group: "infra", roles: SUPERVISORS },
  { id: "infra-network", path: "/infra/network", label: "nav.infraNetwork", group: "infra", roles: SUPERVISORS },
  { id: "users", path: "/users", label: "nav.users", group: "admin", roles: ["ADMIN"] },
];

export function navFor(role: Role): NavItem[] {
  return NAV.filter((item) => item.roles.includes(role));
}

export function canOpen(role: Role, page: PageId): boolean {
  return NAV.some((item) => item.id === page && item.roles.includes(role));
}

/** Where a role lands after login. */
export function homeFor(role: Role): string {
  return role === "OPERATOR" ? "/station" : "/overview";
}

/** Actions inside pages, by role. */
export const can = {
  createLot: (role: Role) => role !== "OPERATOR",
  handleRework: (role: Role) => role !== "OPERATOR",
  restartDeployment: (role: Role) => role === "ADMIN",
};
