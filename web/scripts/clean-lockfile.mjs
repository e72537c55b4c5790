// Drop the `funding` links npm copies into package-lock.json, so the lock file names no URL at
// all (with omit-lockfile-registry-resolved in .npmrc it names no download host either).
// Run after `npm install` changes the lock file: `npm run lockfile:clean`.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding;
writeFileSync(path, JSON.stringify(lock, null, 2) + "\n");
