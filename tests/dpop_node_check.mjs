// Drives byo_sessions' RFC 9449 signalling with panva's `dpop` (installed by
// scripts/node_dpop.sh into .node-dpop/) against a running server, as a standard DPoP client
// would: proofs come only from dpop's generateKeyPair/generateProof, and the nonce only from
// the `DPoP-Nonce` response header (never from our JSON body). Prints ONE JSON document of
// observations (status and headers of each request); tests/test_dpop_node.py judges them.
//
// Environment: BYO_BASE_URL (the live server, required), BYO_DPOP_DIR (default <repo>/.node-dpop),
// BYO_USERNAME (the user the test view logs in).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const base = env.BYO_BASE_URL;
if (!base) {
  console.error("usage: BYO_BASE_URL=http://127.0.0.1:8081 node dpop_node_check.mjs");
  process.exit(2);
}
const packageDir = join(env.BYO_DPOP_DIR || join(here, "..", ".node-dpop"), "node_modules", "dpop");
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const DPoP = await import(pathToFileURL(join(packageDir, manifest.exports["."].default)).href);

const out = { dpopVersion: manifest.version, steps: {} };
const HEADERS = ["dpop-nonce", "www-authenticate", "cache-control"];

async function send(name, path, { method = "GET", dpop, token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (dpop) headers.DPoP = dpop;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers["Content-Type"] = "application/x-www-form-urlencoded";
  const response = await fetch(base + path, { method, headers, body });
  const seen = { status: response.status, headers: {} };
  for (const h of HEADERS) if (response.headers.has(h)) seen.headers[h] = response.headers.get(h);
  const text = await response.text();
  try { seen.json = JSON.parse(text); } catch { seen.text = text.slice(0, 200); }
  out.steps[name] = seen;
  return seen;
}

// The standard resource-server dance (RFC 9449 §9): sign without a nonce; on a
// `use_dpop_nonce` challenge take `DPoP-Nonce` and sign once more with it.
async function withNonceRetry(prefix, keypair, path, token) {
  const url = base + path;
  const first = await send(`${prefix}First`, path,
    { dpop: await DPoP.generateProof(keypair, url, "GET", undefined, token), token });
  const nonce = first.headers["dpop-nonce"];
  if (!nonce || !/error="use_dpop_nonce"/.test(first.headers["www-authenticate"] || "")) return;
  await send(`${prefix}Retry`, path, { dpop: await DPoP.generateProof(keypair, url, "GET", nonce, token), token });
}

try {
  const keypair = await DPoP.generateKeyPair("ES256");
  // Registration at login: the nonce is a fresh challenge from the challenge URL.
  const challenge = await send("challenge", "/byo/device/challenge");
  const loginUrl = base + "/dpop-login/";
  const login = await send("login", "/dpop-login/", {
    method: "POST", body: `username=${encodeURIComponent(env.BYO_USERNAME || "dpop-user")}`,
    dpop: await DPoP.generateProof(keypair, loginUrl, "POST", challenge.json.deviceChallenge),
  });
  const token = login.json && login.json.token;
  out.thumbprint = await DPoP.calculateThumbprint(keypair.publicKey);

  await withNonceRetry("view", keypair, "/device-api/", token);    // a login_required view
  await withNonceRetry("drf", keypair, "/drf/device-me/", token);  // a DRF view (DeviceChallengeRequired)
  await send("noProof", "/device-api/", { token });
  // Another key's proof, with a valid nonce: the session's device did not sign it.
  const other = await DPoP.generateKeyPair("ES256");
  const fresh = await send("otherKeyChallenge", "/device-api/",
    { dpop: await DPoP.generateProof(other, base + "/device-api/", "GET", undefined, token), token });
  await send("otherKey", "/device-api/", {
    dpop: await DPoP.generateProof(other, base + "/device-api/", "GET", fresh.headers["dpop-nonce"], token), token });
  await send("otherKeyDrf", "/drf/device-me/", {
    dpop: await DPoP.generateProof(other, base + "/drf/device-me/", "GET", fresh.headers["dpop-nonce"], token),
    token });
} catch (e) {
  out.threw = String(e && e.stack ? e.stack : e);
}
console.log(JSON.stringify(out));
