// Runs a scenario through the published Node client (@propelauth/byo-node, installed by
// scripts/node_client.sh into .node-client/) against a running byo_sessions server and
// prints ONE JSON document of observations on stdout: for each step, what the client
// returned ({ok, data} or {ok, error}) or what it threw ({threw}). Nothing is asserted
// here: tests/server/test_node_client.py judges the observations.
//
// Environment:
//   BYO_SERVER_URL        the server's mount, e.g. http://127.0.0.1:8081/byo-server (required)
//   BYO_INTEGRATION_KEY   a configured integration key (required)
//   BYO_OTHER_KEY         a well-formed key that is not configured (optional)
//   BYO_NOW               the server clock in Unix seconds, for the device proofs' iat (default: now)
//   BYO_AGED_TOKEN        a token whose rotation is due (optional): refreshed through the client
//   BYO_NODE_CLIENT_DIR   where the client is installed (default: <repo>/.node-client)
//   BYO_IP, BYO_UA        the end user's IP address and User-Agent passed in commands
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const url = env.BYO_SERVER_URL;
const integrationKey = env.BYO_INTEGRATION_KEY;
if (!url || !integrationKey) {
  console.error("usage: BYO_SERVER_URL=... BYO_INTEGRATION_KEY=... node node_client_check.mjs");
  process.exit(2);
}
const clientDir = env.BYO_NODE_CLIENT_DIR || join(here, "..", "..", ".node-client");
const packageDir = join(clientDir, "node_modules", "@propelauth", "byo-node");
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
// The ESM entry, as `import { createClient } from "@propelauth/byo-node"` would load it.
const { createClient } = await import(pathToFileURL(join(packageDir, manifest.exports["."].import)).href);

const IP = env.BYO_IP || "203.0.113.7";
const UA = env.BYO_UA || "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const NOW = Number(env.BYO_NOW || Math.floor(Date.now() / 1000));
const APP_URL = "https://app.example/api/me";
const LOGIN_URL = "https://app.example/login";

const client = createClient({ url, integrationKey });
const out = { clientVersion: manifest.version, nodeVersion: process.version, steps: {}, notes: [] };

// One step: the client's Result as plain JSON (its functions dropped), or what it threw.
async function step(name, call) {
  let observed;
  try {
    const result = await call();
    observed = result && typeof result === "object" && "ok" in result
      ? (result.ok ? { ok: true, data: result.data } : { ok: false, error: result.error })
      : { ok: null, value: result };
  } catch (e) {
    observed = { threw: String(e && e.stack ? e.stack : e) };
  }
  out.steps[name] = observed;
  return observed;
}
const dataOf = (observed) => (observed && observed.ok ? observed.data : undefined);

// --- a software device: WebCrypto P-256, proofs as device.js signs them (compact JWS, raw r||s)
const subtle = globalThis.crypto.subtle;
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const b64json = (value) => b64url(Buffer.from(JSON.stringify(value)));

async function newDevice() {
  const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const { kty, crv, x, y } = await subtle.exportKey("jwk", pair.publicKey);
  return { pair, jwk: { kty, crv, x, y } };
}

async function proof(device, method, htu, nonce) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: device.jwk };
  const claims = { jti: b64url(globalThis.crypto.getRandomValues(new Uint8Array(16))), htm: method, htu, iat: NOW, nonce };
  const input = `${b64json(header)}.${b64json(claims)}`;
  const signature = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, device.pair.privateKey, Buffer.from(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

async function signedChallenge(device, method, htu, name) {
  const challenge = dataOf(await step(name, () => client.session.device.createChallenge({ userAgent: UA, ipAddress: IP })));
  return challenge ? proof(device, method, htu, challenge.deviceChallenge) : "no-challenge";
}

// --- stateless tokens: the client has no verify method, so verify as a Node app would,
// with WebCrypto and a key of the JWKS the server returned (alg/use are checked on import).
async function verifyJwt(token, jwks) {
  const [h, p, s] = token.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid);
  if (!jwk) return { header, claims, verified: false, reason: "kid not in the JWKS" };
  const key = await subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  const verified = await subtle.verify("RSASSA-PKCS1-v1_5", key, Buffer.from(s, "base64url"), Buffer.from(`${h}.${p}`));
  return { header, claims, verified };
}

// ------------------------------------------------------------------------------- scenario
const USER = "node-user-1";
const s = client.session;

await step("ping", () => client.ping({}));
await step("pingTrailingSlashUrl", () => createClient({ url: `${url}/`, integrationKey }).ping({}));
if (env.BYO_OTHER_KEY) {
  await step("pingWrongKey", () => createClient({ url, integrationKey: env.BYO_OTHER_KEY }).ping({}));
  await step("validateWrongKey", () => createClient({ url, integrationKey: env.BYO_OTHER_KEY })
    .session.validate({ sessionToken: "byo_s_x" }));
}

await step("pingEmptyKey", () => createClient({ url, integrationKey: "" }).ping({}));

const first = dataOf(await step("create", () => s.create({
  userId: USER, tags: ["org:acme", "team:blue"], metadata: { role: "admin", n: 1 }, ipAddress: IP, userAgent: UA,
})));
const token = first ? first.sessionToken : "byo_s_missing";
const sid = first ? first.sessionId : "ses_missing";
await step("validate", () => s.validate({ sessionToken: token, ipAddress: IP, userAgent: UA }));
await step("validateRequiredTags", () => s.validate({ sessionToken: token, ipAddress: IP, userAgent: UA,
                                                       requiredTags: ["org:acme"] }));
await step("validateMissingTag", () => s.validate({ sessionToken: token, ipAddress: IP, userAgent: UA,
                                                     requiredTags: ["org:other"] }));
await step("validateAndRefreshNotDue", () => s.validateAndRefresh({ sessionToken: token, ipAddress: IP, userAgent: UA }));
await step("validateUnknownToken", () => s.validate({ sessionToken: "byo_s_" + "A".repeat(43) }));
await step("validateNoToken", () => s.validate({}));

if (env.BYO_AGED_TOKEN) {
  const aged = env.BYO_AGED_TOKEN;
  const rotated = dataOf(await step("refreshAged", () => s.validateAndRefresh({ sessionToken: aged, ipAddress: IP, userAgent: UA })));
  await step("refreshAgedAgain", () => s.validateAndRefresh({ sessionToken: aged, ipAddress: IP, userAgent: UA }));
  if (rotated && rotated.newSessionToken) {
    await step("validateRotated", () => s.validate({ sessionToken: rotated.newSessionToken, ipAddress: IP, userAgent: UA }));
  }
}

const unicode = dataOf(await step("createUnicode", () => s.create({
  userId: "nöde-üser-😀", metadata: { name: "Zoë 🚀 «quoted»", nested: { list: [1, 2.5, null, true] } },
  ipAddress: "2001:db8::1", userAgent: UA,
})));
if (unicode) await step("validateUnicode", () => s.validate({ sessionToken: unicode.sessionToken }));

// A JS string cut inside a surrogate pair (say, a display name truncated with .slice())
// holds a lone surrogate: JSON.stringify sends it as a "\\udXXX" escape.
const cut = "Zoë 🚀".slice(0, 5);
await step("createLoneSurrogateMetadata", () => s.create({ userId: USER, metadata: { name: cut }, ipAddress: IP, userAgent: UA }));
await step("createLoneSurrogateUser", () => s.create({ userId: `node-${cut}` }));
await step("validateLoneSurrogateUserAgent", () => s.validate({ sessionToken: token, ipAddress: IP, userAgent: `${UA} ${cut}` }));
await step("updateLoneSurrogateTag", () => s.update({ sessionId: sid, tagsToAdd: [`x:${cut}`] }));

const second = dataOf(await step("createSecond", () => s.create({ userId: USER, ipAddress: IP, userAgent: UA })));
const third = dataOf(await step("createThird", () => s.create({ userId: USER, tags: ["team:blue"] })));
await step("fetchAllForUser", () => s.fetchAllForUser({ userId: USER }));
await step("fetchAllForUserTagged", () => s.fetchAllForUser({ userId: USER, sessionTags: ["team:blue"] }));
await step("fetchAll", () => s.fetchAll({ userId: USER }));
await step("fetchById", () => s.fetchById({ sessionId: sid }));
await step("fetchByIdMissing", () => s.fetchById({ sessionId: "ses_nope" }));

await step("update", () => s.update({ sessionId: sid, tagsToAdd: ["role:admin"], patchMetadata: { plan: "pro" } }));
await step("fetchByIdAfterUpdate", () => s.fetchById({ sessionId: sid }));
await step("updateCreateOnlyTag", () => s.update({ sessionId: sid, tagsToRemove: ["org:acme"] }));
await step("updateBadTag", () => s.update({ sessionId: sid, tagsToAdd: ["Not A Tag"] }));
await step("updateConflictingMetadata", () => s.update({ sessionId: sid, newMetadata: {}, patchMetadata: {} }));
await step("updateMissing", () => s.update({ sessionId: "ses_nope", tagsToAdd: ["x:y"] }));
await step("createBadTag", () => s.create({ userId: USER, tags: ["Not A Tag"] }));
await step("createBadIp", () => s.create({ userId: USER, ipAddress: "not-an-ip" }));
await step("updateMany", () => s.updateMany({ filter: { userId: USER, sessionTags: ["team:blue"] },
                                                tagsToAdd: ["tier:gold"], patchMetadata: { bulk: true } }));
await step("updateManyCreateOnly", () => s.updateMany({ filter: { userId: USER }, tagsToAdd: ["org:other"] }));

if (second) {
  await step("invalidateByToken", () => s.invalidateByToken({ sessionToken: second.sessionToken }));
  await step("validateAfterInvalidate", () => s.validate({ sessionToken: second.sessionToken, ipAddress: IP, userAgent: UA }));
  await step("refreshAfterInvalidate", () => s.validateAndRefresh({ sessionToken: second.sessionToken, ipAddress: IP, userAgent: UA }));
}
await step("invalidateByTokenUnknown", () => s.invalidateByToken({ sessionToken: "byo_s_unknown" }));
if (third) await step("invalidateByIdOtherUser", () => s.invalidateById({ sessionId: third.sessionId, userId: "someone-else" }));
await step("invalidateByIdMissing", () => s.invalidateById({ sessionId: "ses_nope" }));
await step("invalidateAllExceptOne", () => s.invalidateAllForUserExceptOne({ userId: USER, sessionTokenToKeep: token }));
await step("validateKept", () => s.validate({ sessionToken: token, ipAddress: IP, userAgent: UA }));
if (third) await step("validateThirdAfterExceptOne", () => s.validate({ sessionToken: third.sessionToken }));
await step("fetchAllForUserAfter", () => s.fetchAllForUser({ userId: USER }));

// --- devices
const DEVICE_USER = "node-device-user";
await step("deviceChallenge", () => s.device.createChallenge({ userAgent: UA, ipAddress: IP }));
const device = await newDevice();
const loginProof = await signedChallenge(device, "POST", LOGIN_URL, "deviceChallengeForLogin");
const bound = dataOf(await step("createWithDevice", () => s.create({
  userId: DEVICE_USER, ipAddress: IP, userAgent: UA,
  deviceRegistration: { signedDeviceChallenge: loginProof, rememberDevice: true, requestUrl: LOGIN_URL, requestMethod: "POST" },
})));
if (bound) {
  const good = await signedChallenge(device, "GET", APP_URL, "deviceChallengeForVerify");
  await step("validateWithDevice", () => s.validate({ sessionToken: bound.sessionToken, ipAddress: IP, userAgent: UA,
    deviceVerification: { signedDeviceChallenge: good, requestUrl: APP_URL, requestMethod: "GET" } }));
  const stranger = await signedChallenge(await newDevice(), "GET", APP_URL, "deviceChallengeForStranger");
  await step("validateWithOtherDevice", () => s.validateAndRefresh({ sessionToken: bound.sessionToken, ipAddress: IP,
    userAgent: UA, deviceVerification: { signedDeviceChallenge: stranger, requestUrl: APP_URL, requestMethod: "GET" } }));
}
const plain = dataOf(await step("createForRegister", () => s.create({ userId: DEVICE_USER, ipAddress: IP, userAgent: UA })));
if (plain) {
  await step("registerDeviceGarbage", () => s.device.register({ sessionToken: plain.sessionToken, signedDeviceChallenge: "garbage",
    rememberDevice: true, requestUrl: APP_URL, requestMethod: "POST", ipAddress: IP, userAgent: UA }));
  const again = await signedChallenge(device, "POST", APP_URL, "deviceChallengeForRegister");
  await step("registerDevice", () => s.device.register({ sessionId: plain.sessionId, signedDeviceChallenge: again,
    rememberDevice: true, requestUrl: APP_URL, requestMethod: "POST", ipAddress: IP, userAgent: UA }));
}

// --- stateless tokens and keys
const jwt = dataOf(await step("createStatelessToken", () => s.createStatelessToken({
  userId: USER, sessionId: sid, customClaims: { plan: "pro" }, audience: "api", lifetimeSecs: 120 })));
await step("createStatelessTokenForeignSession", () => s.createStatelessToken({ userId: "someone-else", sessionId: sid }));
await step("createStatelessTokenReservedClaim", () => s.createStatelessToken({ userId: USER, customClaims: { sub: "root" } }));
const jwks = dataOf(await step("getJwks", () => s.getJwks({})));
if (jwt && jwks) out.verifyStatelessToken = await verifyJwt(jwt.statelessToken, jwks).catch((e) => ({ threw: String(e) }));
const rotation = dataOf(await step("rotateKey", () => s.rotateStatelessTokenKey({
  secsBeforeNewKeyBecomesDefault: 600, secsBeforeExistingKeysAreDeactivated: 4200 })));
const jwksAfter = dataOf(await step("getJwksAfterRotate", () => s.getJwks({})));
if (jwt && jwksAfter) out.verifyAfterRotate = await verifyJwt(jwt.statelessToken, jwksAfter).catch((e) => ({ threw: String(e) }));
await step("rotateKeyInvalid", () => s.rotateStatelessTokenKey({
  secsBeforeNewKeyBecomesDefault: 600, secsBeforeExistingKeysAreDeactivated: 601 }));
if (rotation) out.notes.push(`rotated to ${rotation.newKeyId}`);

// --- the rest
await step("invalidateAllForUser", () => s.invalidateAllForUser({ userId: DEVICE_USER }));
await step("invalidateById", () => s.invalidateById({ sessionId: sid, userId: USER }));
await step("validateAfterInvalidateById", () => s.validate({ sessionToken: token }));
await step("notOfferedPasskeys", () => client.passkeys.fetchAllPasskeysForUser({ userId: USER }));
await step("pingLast", () => client.ping({}));

if (typeof s.verifyStatelessToken !== "function") out.notes.push("the client has no stateless-token verify method: verified with WebCrypto and GetJwks");
process.stdout.write(JSON.stringify(out) + "\n");
