// Checks emails with tools nobody here wrote, for the Python tests beside this file.
// Reads {"label": "<html>", ...} as JSON on stdin; writes {"label": [finding, ...], ...} on stdout.
//   node email_check.mjs caniemail CLIENT...   every feature caniemail.com's data marks as unsupported
//                                        ("none") or partial in one of the clients
//   node email_check.mjs html-validate         html-validate's messages under htmlvalidate.email.mjs
import { readFileSync } from "node:fs";
import { caniemail } from "caniemail";
import { HtmlValidate } from "html-validate";
import config from "./htmlvalidate.email.mjs";

const [command, ...clients] = process.argv.slice(2);
const emails = JSON.parse(readFileSync(0, "utf8"));

function supportFindings(html) {
  const { issues } = caniemail({ clients, html });
  const findings = [];
  for (const kind of ["errors", "warnings"]) {
    for (const [client, list] of issues[kind]) {
      for (const issue of list) {
        findings.push({ feature: issue.title, client, support: issue.support, notes: issue.notes,
                        line: issue.position?.start.line ?? null });
      }
    }
  }
  return findings;
}

async function validationFindings(html, validator) {
  const report = await validator.validateString(html, "email.html");
  return report.results.flatMap((result) => result.messages.map((message) => ({
    rule: message.ruleId, message: message.message, line: message.line, column: message.column,
    selector: message.selector,
  })));
}

const out = {};
if (command === "caniemail") {
  if (!clients.length) throw new Error("name the clients to check, e.g. gmail.ios outlook.windows");
  for (const [label, html] of Object.entries(emails)) out[label] = supportFindings(html);
} else if (command === "html-validate") {
  const validator = new HtmlValidate(config);
  for (const [label, html] of Object.entries(emails)) out[label] = await validationFindings(html, validator);
} else {
  throw new Error(`unknown command ${command}: caniemail or html-validate`);
}
process.stdout.write(JSON.stringify(out));
