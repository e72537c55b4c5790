/** Vite: Preact through esbuild's automatic JSX runtime; the build goes to dist/, served at `/`. */
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, assetsDir: "assets" },
  server: {
    // `npm run dev` talks to a local `moneyprinter serve` on its default port.
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
