/**
 * The SMTP sink of `troupe dev`: the test harness's sink (runtime/testing/smtp-sink.ts, a real
 * SMTP server on 127.0.0.1) with every mail also saved as `<data dir>/mail/<time>-<n>.eml`
 * (opens in any mail client) and announced in one log line. The email actor gets its URL as
 * SMTP_URL. Mails are never relayed anywhere.
 */
import { joinPath, makeDir, relativePath, writeFileAtomically } from "../../platform/files.ts";
import { type ReceivedMail, type SmtpSink, startSmtpSink } from "../../testing/smtp-sink.ts";
import { choosePort } from "./choose-port.ts";

export interface DevMailSinkInit {
  /** `<data dir>/mail` */
  readonly dir: string;
  /** The preferred port; 0 for any free one. */
  readonly port: number;
  /** Paths in log lines are shown relative to this folder. */
  readonly root: string;
  readonly log: (line: string) => void;
}

export interface DevMailSink {
  readonly sink: SmtpSink;
  readonly fellBack: boolean;
}

export async function startDevMailSink(init: DevMailSinkInit): Promise<DevMailSink> {
  makeDir(init.dir);
  let count = 0;
  const save = (mail: ReceivedMail) => {
    count++;
    const stamp = new Date().toISOString().replaceAll(":", "-").replace(".", "-");
    const file = joinPath(init.dir, `${stamp}-${count}.eml`);
    try {
      writeFileAtomically(file, mail.raw);
      init.log(
        `${mail.from} → ${mail.to.join(", ")}: ${JSON.stringify(mail.subject)} (${relativePath(init.root, file)})`,
      );
    } catch (err) {
      init.log(
        `${mail.from} → ${mail.to.join(", ")}: ${JSON.stringify(mail.subject)} (not saved: ${String(err)})`,
      );
    }
  };
  const chosen = await choosePort(init.port);
  const sink = await startSmtpSink({ port: chosen.port, onMail: save });
  return { sink, fellBack: chosen.fellBack };
}
