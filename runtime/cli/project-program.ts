/**
 * Which executable a project command runs: the project's own (`<root>/node_modules/.bin/<program>`,
 * the version it pins) when it has one, else the program's name, looked up on PATH. Used for the
 * actors' runtime and the services of `troupe dev`, and for Bun's bundler in `troupe build`.
 */
import { fileExists, joinPath } from "../platform/files.ts";

/** `<root>/node_modules/.bin/<program>` when the project has it; a path is taken as it is. */
export function projectProgram(root: string, program: string): string {
  if (program.includes("/")) return program;
  const local = joinPath(root, "node_modules", ".bin", program);
  return fileExists(local) ? local : program;
}
