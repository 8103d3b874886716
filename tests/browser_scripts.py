"""Page scripts shared by the browser suites (tests/device_js, tests/e2e)."""

# Reads the key pair device.js stored in IndexedDB and tries to export the private half.
INSPECT_STORED_KEY = """async () => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("byo-sessions");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const pair = await new Promise((resolve, reject) => {
    const get = db.transaction("keys").objectStore("keys").get("device");
    get.onsuccess = () => resolve(get.result);
    get.onerror = () => reject(get.error);
  });
  db.close();
  const out = {
    extractable: pair.privateKey.extractable,
    type: pair.privateKey.type,
    curve: pair.privateKey.algorithm.namedCurve,
    usages: pair.privateKey.usages,
  };
  for (const format of ["pkcs8", "jwk"]) {
    try {
      const key = await crypto.subtle.exportKey(format, pair.privateKey);
      out[format] = format === "jwk" ? "exported:" + JSON.stringify(key) : "exported";
    } catch (error) {
      out[format] = error.name;
    }
  }
  out.publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return out;
}"""
