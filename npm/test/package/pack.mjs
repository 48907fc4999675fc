// Packs the package (npm pack) into a temporary folder once per process; returns the tarball
// path and the folder it was extracted to (as the registry would ship it).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

export function pack() {
  const dir = mkdtempSync(join(tmpdir(), "tg-pack-"));
  const out = execFileSync(npm, ["pack", "--json", "--pack-destination", dir], { cwd: pkgDir, encoding: "utf8" });
  const info = JSON.parse(out.slice(out.indexOf("[")));
  const tarball = join(dir, info[0].filename);
  execFileSync("tar", ["xzf", tarball, "-C", dir]);
  return { tarball, files: info[0].files.map((f) => f.path).sort(), extracted: join(dir, "package") };
}

export function installInto(consumer, tarball, extra = []) {
  execFileSync(npm, ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball, ...extra], {
    cwd: consumer,
    stdio: "pipe",
  });
  return readdirSync(join(consumer, "node_modules", "@telemetry-gateway"));
}
