import { describe, expect, it } from "vitest";
import { can, canOpen, homeFor, navFor } from "./nav";

describe("role-aware navigation", () => {
  it("offers operators only the station and the rework queue", () => {
    expect(navFor("OPERATOR").map((i) => i.id)).toEqual(["station", "rework"]);
    expect(homeFor("OPERATOR")).toBe("/station");
    expect(canOpen("OPERATOR", "overview")).toBe(false);
  });

  it("offers supervisors production and infra pages but not users", () => {
    const ids = navFor("SUPERVISOR").map((i) => i.id);
    expect(ids).toContain("infra-pods");
    expect(ids).not.toContain("users");
    expect(homeFor("SUPERVISOR")).toBe("/overview");
  });

  it("offers admins everything", () => {
    expect(navFor("ADMIN").map((i) => i.id)).toContain("users");
    expect(canOpen("ADMIN", "users")).toBe(true);
  });

  it("lets only admins restart deployments", () => {
    expect(can.restartDeployment("ADMIN")).toBe(true);
    expect(can.restartDeployment("SUPERVISOR")).toBe(false);
    expect(can.createLot("OPERATOR")).toBe(false);
  });
});
