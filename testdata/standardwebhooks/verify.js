// A webhook receiver that verifies every delivery with the Standard Webhooks reference library
// (npm standardwebhooks), independently of Plugboard's own signer and verifier. It listens on
// 127.0.0.1 on a free port and prints {"port":N} once, then one JSON line per delivery received:
// {"id": webhook-id, "verified": [true|false per secret], "error": first failure message, "body": the body}.
// It answers 200 when the first secret verifies the delivery, 401 otherwise.
//
// The secrets (whsec_...) come comma-separated in STANDARDWEBHOOKS_SECRETS.
import http from "node:http";
import { Webhook } from "standardwebhooks";

const secrets = (process.env.STANDARDWEBHOOKS_SECRETS || "").split(",").filter(Boolean);
if (secrets.length === 0) {
  console.error("STANDARDWEBHOOKS_SECRETS is empty");
  process.exit(2);
}
const hooks = secrets.map((s) => new Webhook(s));

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const verified = [];
    let error = "";
    for (const wh of hooks) {
      try {
        wh.verify(body, req.headers);
        verified.push(true);
      } catch (e) {
        verified.push(false);
        if (!error) error = String(e && e.message);
      }
    }
    process.stdout.write(JSON.stringify({ id: req.headers["webhook-id"] || "", verified, error, body }) + "\n");
    res.writeHead(verified[0] ? 200 : 401, { "content-type": "text/plain" });
    res.end(verified[0] ? "ok" : "bad signature");
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
