import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Served by the node at /_cairn/console/ (src/console/ in the crate), with a
// Content-Security-Policy that allows only same-origin scripts: nothing is
// inlined (no data: assets, no module-preload polyfill script).
export default defineConfig({
  base: "/_cairn/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
