// An Express app on byo_sessions' session server, with the published client
// (@propelauth/byo-node): the same five steps as examples/flask_app (docs/guides/express.md).
//
//   npm ci
//   BYO_URL=http://127.0.0.1:8000/byo-server BYO_INTEGRATION_KEY=byo_ik_... node app.mjs
//
// PORT (default 3000; 0 picks a free one), PROXY_COUNT (reverse proxies in front, default 0),
// SECURE_COOKIES (default true; "false" for plain HTTP on localhost), DEVICE_JS (the path of
// byo_sessions' device.js; default: the copy in this repository). It prints
// "listening on <port>" once it accepts connections.
import { createClient } from "@propelauth/byo-node";
import cookieParser from "cookie-parser";
import express from "express";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const COOKIE = "sessionToken";
const secureCookies = env.SECURE_COOKIES !== "false";
const deviceJs = resolve(env.DEVICE_JS ?? join(here, "../../byo_sessions/static/byo_sessions/device.js"));
// Stands in for your user store and password check.
const users = new Map(Object.entries(JSON.parse(env.APP_USERS ?? '{"demo": "demo-password"}')));

// Step 1: one client, pointed at the session server.
const client = createClient({ url: env.BYO_URL, integrationKey: env.BYO_INTEGRATION_KEY });

const app = express();
app.set("trust proxy", Number(env.PROXY_COUNT ?? 0)); // req.ip from X-Forwarded-For only behind proxies
app.use(express.json());
app.use(cookieParser());

const userAgent = (req) => req.get("user-agent") ?? "";
const requestUrl = (req) => `${req.protocol}://${req.get("host")}${req.path}`;
const setSessionCookie = (res, token) =>
  res.cookie(COOKIE, token, { httpOnly: true, secure: secureCookies, sameSite: "lax" });

// Step 2: login creates the session (tags, IP, User-Agent, the device's signed challenge).
app.post("/api/login", async (req, res) => {
  const { username = "", password = "", signedDeviceChallenge } = req.body ?? {};
  if (!users.has(username) || users.get(username) !== password) {
    return res.status(401).json({ error: "Wrong username or password" });
  }
  const deviceRegistration = signedDeviceChallenge
    ? { signedDeviceChallenge, rememberDevice: true, requestUrl: requestUrl(req), requestMethod: req.method }
    : undefined;
  const result = await client.session.create({
    userId: username, ipAddress: req.ip, userAgent: userAgent(req), tags: ["role:member"], deviceRegistration,
  });
  if (!result.ok) {
    return res.status(400).json({ error: result.error.type });
  }
  setSessionCookie(res, result.data.sessionToken);
  res.json({ success: true, newDeviceDetected: Boolean(result.data.newDeviceDetected) });
});

// Step 3: every protected route validates (and refreshes) the session.
async function requireSession(req, res, next) {
  const sessionToken = req.cookies[COOKIE];
  if (!sessionToken) {
    return res.status(401).json({ error: "Unauthorized" });
  }
  const proof = req.get("DPoP");
  const deviceVerification = proof
    ? { signedDeviceChallenge: proof, requestUrl: requestUrl(req), requestMethod: req.method }
    : undefined;
  const result = await client.session.validateAndRefresh({
    sessionToken, ipAddress: req.ip, userAgent: userAgent(req), deviceVerification,
  });
  if (!result.ok) {
    if (result.error.type === "NewDeviceChallengeRequired") {
      const { deviceChallenge, expiresAt } = result.error.details;
      return res.status(425).json({ deviceChallenge, expiresAt });
    }
    if (result.error.type === "InvalidSessionToken") {
      res.clearCookie(COOKIE);
    }
    return res.status(401).json({ error: result.error.type });
  }
  if (result.data.newSessionToken) { // rotated: the old token dies after a short grace
    setSessionCookie(res, result.data.newSessionToken);
  }
  req.session = result.data;
  next();
}

app.get("/api/me", requireSession, (req, res) => {
  const session = req.session;
  res.json({ userId: session.userId, sessionId: session.sessionId, tags: session.tags ?? [],
             deviceBound: session.hasDeviceRegistered });
});

// Step 4: the challenge device.js signs (its default URL).
app.get("/byo/device/challenge", async (req, res) => {
  const result = await client.session.device.createChallenge({ userAgent: userAgent(req), ipAddress: req.ip });
  if (!result.ok) {
    return res.status(503).json({ error: result.error.type });
  }
  res.set("Cache-Control", "no-store").json(result.data);
});

// Step 5: logout ends the session on the server and drops the cookie.
app.post("/api/logout", async (req, res) => {
  const sessionToken = req.cookies[COOKIE];
  if (sessionToken) {
    await client.session.invalidateByToken({ sessionToken });
  }
  res.clearCookie(COOKIE).json({ success: true });
});

// The page (login form, buttons, device.js): the same as the Flask example's.
app.get("/", (req, res) => res.sendFile(resolve(here, "../browser/index.html")));
app.get("/static/device.js", (req, res) => res.type("text/javascript").sendFile(deviceJs));

const server = app.listen(Number(env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
