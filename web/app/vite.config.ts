import { readFile } from "node:fs/promises";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// The build lands where ChatQL serves it (chatql/webapp.py); `npm run dev` proxies the API.
const server = process.env.WEB_DEV_BACKEND ?? "http://127.0.0.1:8000";

/** Ships the app's persisted documents (scripts/persisted-documents.mjs) with the build, where
 * CHATQL_TRUSTED_DOCUMENTS=web-app finds them. */
function persistedDocuments(): Plugin {
  return {
    name: "chatql-persisted-documents",
    apply: "build",
    async generateBundle() {
      const source = await readFile(new URL("./src/gql/persisted-documents.json", import.meta.url), "utf8");
      this.emitFile({ type: "asset", fileName: "persisted-documents.json", source });
    },
  };
}

export default defineConfig({
  plugins: [react(), persistedDocuments()],
  build: {
    outDir: "../../chatql/static/app",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400, // hls.js alone is 360 kB, in a chunk of its own loaded only to play video
    // Libraries change less often than the app: a deploy of the app keeps them cached.
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            // Loaded only when a video plays (a dynamic import): never in the first download.
            { name: "hls", test: /node_modules[\\/]hls\.js[\\/]dist[\\/][^?]*\.mjs$/, priority: 4 },
            { name: "react", test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 3 },
            { name: "apollo", test: /node_modules[\\/](@apollo|graphql|graphql-ws|rxjs|@wry|optimism|tslib)[\\/]/, priority: 2 },
            { name: "vendor", test: /node_modules[\\/]/, priority: 1 },
          ],
        },
      },
    },
  },
  server: {
    proxy: {
      "/graphql": { target: server, ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
