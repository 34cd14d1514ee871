// The mail ChatQL sent, read back from the Maildir that tests/smtp_server.py's real SMTP server
// (aiosmtpd) delivers to: E2E_MAILDIR, set by tests/test_web_app.py.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "./lib.mjs";

export const MAILDIR = process.env.E2E_MAILDIR ?? "";

/** Maildir names start with the delivery's seconds, microseconds and a per-process counter. */
function arrival(name) {
  const match = /^(\d+)\.M(\d+)P\d+Q(\d+)/.exec(name);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0];
}

function byArrival(a, b) {
  const [x, y] = [arrival(a.name), arrival(b.name)];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || a.name.localeCompare(b.name);
}

function decodeQuotedPrintable(text) {
  const bytes = [];
  const soft = text.replace(/=\r?\n/g, "");
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === "=" ? soft.slice(i + 1, i + 3) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** A single-part text mail: its headers (lower-case names, unfolded) and decoded body. */
export function parseMail(raw) {
  const text = raw.replace(/\r\n/g, "\n");
  const split = text.indexOf("\n\n");
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? "" : text.slice(split + 2);
  const headers = {};
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const encoding = (headers["content-transfer-encoding"] ?? "").toLowerCase();
  const decoded =
    encoding === "quoted-printable"
      ? decodeQuotedPrintable(body)
      : encoding === "base64"
        ? Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8")
        : body;
  return { headers, body: decoded };
}

/** Every mail delivered so far (new/ and cur/), oldest first. */
export function allMail() {
  if (!MAILDIR) throw new Error("E2E_MAILDIR is not set: run the browser tests from tests/test_web_app.py");
  const files = [];
  for (const sub of ["new", "cur"]) {
    for (const name of readdirSync(join(MAILDIR, sub))) files.push({ name, path: join(MAILDIR, sub, name) });
  }
  return files.sort(byArrival).map((file) => parseMail(readFileSync(file.path, "utf8")));
}

/** The newest mail to `address` whose subject matches, once it has arrived (mail goes out in
 * the background). */
export async function waitForMail(address, subject) {
  const wanted = address.toLowerCase();
  return until(`a mail to ${address} with subject ${subject}`, () =>
    allMail()
      .filter((mail) => (mail.headers["to"] ?? "").toLowerCase().includes(wanted) && subject.test(mail.headers["subject"] ?? ""))
      .at(-1),
  );
}

/** How many mails to `address` have arrived so far. */
export function mailCount(address) {
  const wanted = address.toLowerCase();
  return allMail().filter((mail) => (mail.headers["to"] ?? "").toLowerCase().includes(wanted)).length;
}

/** The first link of the mail's text that carries a `token=` parameter. */
export function tokenLink(mail) {
  for (const match of mail.body.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    if (new URL(match[0]).searchParams.get("token")) return match[0];
  }
  throw new Error(`no link with a token in the mail "${mail.headers["subject"]}":\n${mail.body}`);
}
