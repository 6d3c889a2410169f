/// <reference types="vitest/config" />
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { type Plugin, defineConfig } from "vite";
import react from "@vitejs/plugin-react";

/**
 * Writes `.gz` and `.br` next to every text asset of the build, so the dashboard server sends
 * them as they are (tower-http's precompressed files) instead of compressing per request.
 */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "mes-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
          entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
        );
      for (const file of walk(outDir)) {
        if (!/\.(js|css|html|svg|json)$/.test(file)) continue;
        const content = readFileSync(file);
        if (content.length < 1024) continue;
        writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
        writeFileSync(`${file}.br`, brotliCompressSync(content));
      }
    },
  };
}

// `npm run dev` proxies the APIs like the Rust server does (set DASHBOARD_DEV_API to mes-api).
const api = process.env.DASHBOARD_DEV_API ?? "http://127.0.0.1:8080";
const infra = process.env.DASHBOARD_DEV_INFRA ?? "http://127.0.0.1:8081";

export default defineConfig({
  plugins: [react(), precompress()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      output: {
        // Long-lived vendor chunks: a release that changes only our code re-downloads only it.
        // (Mantine is left to the bundler, which splits it by the pages that use each part.)
        manualChunks(id: string) {
          if (id.includes("node_modules/chart.js") || id.includes("node_modules/react-chartjs-2")) return "charts";
          if (id.includes("node_modules/react") || id.includes("node_modules/scheduler")) return "react";
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      "/api/infra": { target: infra, changeOrigin: true },
      "/api/v1": { target: api, changeOrigin: true },
      "/ws": { target: api, ws: true, changeOrigin: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
