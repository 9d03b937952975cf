/**
 * The email actor as a process: `bun run actors/email/main.ts` (or `deno run -A …`, `node …`).
 * SMTP_URL (default smtp://127.0.0.1:1025) says where mail goes, EMAIL_FROM (default
 * "Troupe Shop <no-reply@shop.example>") who sends it. Connection and drain settings come from
 * the environment (docs/guide/configuration.md).
 */
import { readEnv, runActor } from "troupe";
import { createEmailActor } from "./actor.ts";

const smtpUrl = readEnv("SMTP_URL");
const from = readEnv("EMAIL_FROM");
await runActor(
  createEmailActor({
    ...(smtpUrl === undefined ? {} : { smtpUrl }),
    ...(from === undefined ? {} : { from }),
  }),
);
