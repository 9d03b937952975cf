/**
 * The shop's mail sink for `troupe dev` (troupe.json `services.mail`): a local SMTP server
 * (`startSmtpSink` of troupe/testing/smtp) that saves every mail it gets as
 * `<dir>/<time>-<n>.eml` (opens in any mail client) and prints one line per mail. The email
 * actor gets its URL as SMTP_URL from troupe.json. Nothing is relayed anywhere.
 *
 *   bun run scripts/dev-mail-sink.ts --port 2525 --dir .troupe/dev/mail
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { type ReceivedMail, startSmtpSink } from "troupe/testing/smtp";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "2525" },
    dir: { type: "string", default: ".troupe/dev/mail" },
  },
});
const port = Number(values.port);
const dir = values.dir;
// Paths in log lines are shown from where the sink runs: the project root under troupe dev.
const shown = (path: string) =>
  relative(process.cwd(), path).startsWith("..") ? path : relative(process.cwd(), path);

mkdirSync(dir, { recursive: true });
let count = 0;
const save = (mail: ReceivedMail) => {
  count++;
  const stamp = new Date().toISOString().replaceAll(":", "-").replace(".", "-");
  const file = join(dir, `${stamp}-${count}.eml`);
  const line = `${mail.from} → ${mail.to.join(", ")}: ${JSON.stringify(mail.subject)}`;
  try {
    writeFileSync(file, mail.raw);
    console.log(`${line} (${shown(file)})`);
  } catch (err) {
    console.log(`${line} (not saved: ${String(err)})`);
  }
};

const sink = await startSmtpSink({ port, onMail: save });
console.log(`SMTP sink on ${sink.url}, saving mail in ${shown(dir)}`);

// troupe dev stops its services with SIGTERM (a second Ctrl-C in a terminal sends SIGINT).
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void sink.stop().then(() => process.exit(0));
  });
}
