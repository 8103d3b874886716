/**
 * byo-sessions device binding for browsers (ES module, no build step, no dependencies).
 *
 * The browser keeps one non-extractable ECDSA P-256 key pair per origin in
 * IndexedDB (database "byo-sessions", store "keys", key "device"). Each request
 * made through `fetchWithDevice` carries a DPoP-style proof (RFC 9449 format)
 * in the `DPoP` header: a JWT signed with that key, with header
 * `{typ: "dpop+jwt", alg: "ES256", jwk}` and claims `{jti, htm, htu, iat, nonce}`,
 * plus `ath` (base64url SHA-256 of the token, RFC 9449 §4.2) when the request
 * carries `Authorization: Bearer <token>`; a cookie session has no `ath` (page
 * script cannot read an HttpOnly cookie).
 * `nonce` is a server-issued challenge, bound server-side to the IP and
 * User-Agent. Page script can sign with the key but never read it (an XSS can
 * still sign while it runs: use a CSP).
 *
 *   import { initFetchWithDevice, fetchWithDevice } from "/static/byo_sessions/device.js";
 *   initFetchWithDevice();                          // optional, defaults shown below
 *   const response = await fetchWithDevice("/api/things", { method: "POST", body });
 *
 * API
 *   initFetchWithDevice({
 *     fetchChallenge,                  // async () => ({deviceChallenge, expiresAt})
 *                                      //   default: GET /byo/device/challenge (same-origin credentials)
 *     getChallengeFromFailedResponse,  // async (response) => challenge object or null
 *                                      //   default: JSON {deviceChallenge, expiresAt} of the response
 *     fallbackBehavior = "fetch",      // no WebCrypto/IndexedDB: "fetch" (send without a proof)
 *                                      //   or "error" (throw DeviceUnavailableError)
 *     challengeStatus = 425,           // status that means "new challenge, sign again"
 *     headerName = "DPoP",
 *   }) -> fetchWithDevice
 *   fetchWithDevice(input, init) -> Promise<Response>
 *     Drop-in for fetch (string, URL or Request). On `challengeStatus` it takes the
 *     new challenge from the response (or, when that yields null, from
 *     fetchChallenge), signs again and retries exactly once; a second
 *     `challengeStatus` response is returned to the caller as is.
 *   getDeviceProof(method, url, {accessToken}?) -> Promise<string>
 *     A proof for one request you send yourself (e.g. a login form POST field);
 *     `method` is uppercased, `url` is resolved against the page and loses its
 *     query and fragment. Pass `accessToken` when that request carries it as
 *     `Authorization: Bearer` (the proof then has `ath`, which the server requires).
 *   forgetDevice() -> Promise<void>
 *     Deletes the stored key and the cached challenge (logout everywhere, tests).
 *
 * `expiresAt` is in Unix seconds; a challenge is reused until 10 s before it.
 * Times are the server's: the library reads the `Date` header of the server's
 * responses (the default challenge request, any 425) and, when this machine's clock
 * is off by more than 2 s, signs `iat` and judges challenge expiry by the server's
 * clock. A custom `fetchChallenge` should pass its response to `noteServerDate`;
 * otherwise a wrong clock costs a 425 and retry in `fetchWithDevice`, and a refused
 * `getDeviceProof` proof (nothing it sends comes back through the library).
 *   noteServerDate(response) -> void
 *     Learn the server's clock from a response's `Date` header (same-origin, or
 *     listed in Access-Control-Expose-Headers).
 * Only use it for your own API: the proof reveals a stable device key.
 */

const DB_NAME = "byo-sessions";
const STORE = "keys";
const KEY_ID = "device";
const EXPIRY_MARGIN_MS = 10_000;
const CLOCK_SKEW_IGNORED_MS = 2_000; // `Date` has 1 s resolution: below this, trust our clock
const JTI_BYTES = 18;

export class DeviceUnavailableError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "DeviceUnavailableError";
  }
}

async function defaultFetchChallenge() {
  const response = await fetch("/byo/device/challenge", {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    throw new Error(`device challenge request failed with status ${response.status}`);
  }
  noteServerDate(response);
  return response.json();
}

async function defaultGetChallengeFromFailedResponse(response) {
  try {
    const body = await response.clone().json();
    return isChallenge(body) ? body : null;
  } catch {
    return null;
  }
}

let config = {
  fetchChallenge: defaultFetchChallenge,
  getChallengeFromFailedResponse: defaultGetChallengeFromFailedResponse,
  fallbackBehavior: "fetch",
  challengeStatus: 425,
  headerName: "DPoP",
};

let devicePromise = null; // Promise<{privateKey, jwk}>
let challenge = null; // {deviceChallenge, expiresAt}
let challengePromise = null; // in-flight fetchChallenge, shared by concurrent calls
let clockOffsetMs = 0; // server clock minus ours, from the `Date` header of the server's responses

// --- server time ----------------------------------------------------------------

export function noteServerDate(response) {
  const date = Date.parse(response.headers.get("Date") ?? ""); // unreadable cross-origin: NaN
  if (!Number.isFinite(date)) return;
  const offset = date - Date.now();
  clockOffsetMs = Math.abs(offset) < CLOCK_SKEW_IGNORED_MS ? 0 : offset;
}

function serverNowMs() {
  return Date.now() + clockOffsetMs;
}

export function initFetchWithDevice({
  fetchChallenge = defaultFetchChallenge,
  getChallengeFromFailedResponse = defaultGetChallengeFromFailedResponse,
  fallbackBehavior = "fetch",
  challengeStatus = 425,
  headerName = "DPoP",
} = {}) {
  if (fallbackBehavior !== "fetch" && fallbackBehavior !== "error") {
    throw new TypeError('fallbackBehavior must be "fetch" or "error"');
  }
  config = { fetchChallenge, getChallengeFromFailedResponse, fallbackBehavior, challengeStatus, headerName };
  challenge = null;
  challengePromise = null;
  clockOffsetMs = 0;
  return fetchWithDevice;
}

function isChallenge(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.deviceChallenge === "string" &&
    value.deviceChallenge.length > 0 &&
    Number.isFinite(value.expiresAt)
  );
}

// --- encoding -------------------------------------------------------------------

function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlJson(value) {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

// --- key storage ------------------------------------------------------------------

function request(idbRequest) {
  return new Promise((resolve, reject) => {
    idbRequest.onsuccess = () => resolve(idbRequest.result);
    idbRequest.onerror = () => reject(idbRequest.error);
  });
}

function openDb() {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

// Store `pair` unless another tab stored one first; return whichever is stored.
// One readwrite transaction makes the read-then-write atomic across tabs.
function storeIfAbsent(db, pair) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    let result = pair;
    const get = store.get(KEY_ID);
    get.onsuccess = () => {
      if (get.result && get.result.privateKey) result = get.result;
      else store.put(pair, KEY_ID);
    };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

async function loadOrCreateDevice() {
  if (!globalThis.crypto?.subtle || !globalThis.indexedDB) {
    throw new DeviceUnavailableError("WebCrypto or IndexedDB is not available");
  }
  let db;
  try {
    db = await openDb();
  } catch (error) {
    throw new DeviceUnavailableError("IndexedDB cannot be opened", { cause: error });
  }
  try {
    let pair = await request(db.transaction(STORE, "readonly").objectStore(STORE).get(KEY_ID));
    if (!pair || !pair.privateKey) {
      // extractable=false applies to the private key; the public key stays exportable.
      const fresh = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
        "sign",
        "verify",
      ]);
      pair = await storeIfAbsent(db, { privateKey: fresh.privateKey, publicKey: fresh.publicKey });
    }
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    return { privateKey: pair.privateKey, jwk: { kty, crv, x, y } };
  } catch (error) {
    throw new DeviceUnavailableError("the device key cannot be created or stored", { cause: error });
  } finally {
    db.close();
  }
}

function getDevice() {
  if (!devicePromise) {
    devicePromise = loadOrCreateDevice();
    devicePromise.catch(() => {
      devicePromise = null; // let a later call try again
    });
  }
  return devicePromise;
}

export async function forgetDevice() {
  devicePromise = null;
  challenge = null;
  challengePromise = null;
  if (!globalThis.indexedDB) return;
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, "readwrite");
      tx.objectStore(STORE).delete(KEY_ID);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

// --- challenges -------------------------------------------------------------------

function isFresh(value) {
  return isChallenge(value) && value.expiresAt * 1000 - EXPIRY_MARGIN_MS > serverNowMs();
}

async function currentChallenge() {
  if (isFresh(challenge)) return challenge.deviceChallenge;
  if (!challengePromise) {
    challengePromise = (async () => {
      try {
        const fetched = await config.fetchChallenge();
        if (!isChallenge(fetched)) throw new Error("fetchChallenge returned no {deviceChallenge, expiresAt}");
        challenge = fetched;
        return fetched;
      } finally {
        challengePromise = null;
      }
    })();
  }
  return (await challengePromise).deviceChallenge;
}

// --- proofs -----------------------------------------------------------------------

function htuOf(url) {
  const absolute = new URL(url, globalThis.location?.href);
  absolute.search = "";
  absolute.hash = "";
  return absolute.href;
}

// RFC 9449 `ath` for a request sent with `Authorization: Bearer <token>`, else undefined.
async function accessTokenHash(headers) {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(headers.get("Authorization") ?? "");
  return match ? sha256Base64url(match[1]) : undefined;
}

async function sha256Base64url(text) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

async function signProof(device, method, url, nonce, ath) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: device.jwk };
  const claims = {
    jti: base64url(crypto.getRandomValues(new Uint8Array(JTI_BYTES))),
    htm: method,
    htu: htuOf(url),
    iat: Math.floor(serverNowMs() / 1000),
    nonce,
  };
  if (ath !== undefined) claims.ath = ath;
  const signingInput = `${base64urlJson(header)}.${base64urlJson(claims)}`;
  // WebCrypto ECDSA signatures are raw r || s (64 bytes), exactly what JWS wants.
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    device.privateKey,
    new TextEncoder().encode(signingInput),
  );
  return `${signingInput}.${base64url(signature)}`;
}

export async function getDeviceProof(method, url, { accessToken } = {}) {
  const device = await getDevice();
  const ath = accessToken === undefined ? undefined : await sha256Base64url(String(accessToken));
  return signProof(device, String(method).toUpperCase(), url, await currentChallenge(), ath);
}

// --- fetch --------------------------------------------------------------------------

// `req.method` is what goes on the wire (fetch uppercases only the standard methods).
async function sendSigned(device, req, nonce) {
  const proof = await signProof(
    device,
    req.method,
    req.url,
    nonce ?? (await currentChallenge()),
    await accessTokenHash(req.headers),
  );
  req.headers.set(config.headerName, proof);
  return fetch(req);
}

export async function fetchWithDevice(input, init) {
  let device;
  try {
    device = await getDevice();
  } catch (error) {
    if (error instanceof DeviceUnavailableError && config.fallbackBehavior === "fetch") {
      return fetch(input, init);
    }
    throw error;
  }
  const first = new Request(input, init);
  const spare = first.clone(); // a body can be sent once; keep a copy for the retry
  const response = await sendSigned(device, first);
  if (response.status !== config.challengeStatus) return response;
  noteServerDate(response); // a 425 for a stale or future `iat` means our clock is off

  // The server refused our challenge (stale, or the IP changed): take the new one
  // from the response and retry once. Use it even when it is near its expiry,
  // since the server just issued it for this very retry.
  const fresh = await config.getChallengeFromFailedResponse(response);
  challenge = isChallenge(fresh) ? fresh : null; // null: currentChallenge() calls fetchChallenge
  return sendSigned(device, spare, challenge?.deviceChallenge);
}
