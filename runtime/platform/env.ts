/** Reads one environment variable (Bun, Deno and Node all expose `process.env`). */
export function readEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
}
