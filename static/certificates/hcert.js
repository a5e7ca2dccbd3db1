// HCERT decode and verify in the browser: the same named steps as the server's
// swabline/certificates/hcert.py. Any exception inside a step means "invalid at
// that step". Needs the classic scripts cbor-x (window.CBOR) and pako loaded first.
import { p256 } from "./p256.js";

export const PREFIX = "HC1:";
const ES256 = -7;
const ALG = 1;
const KID = 4;
const ISS = 1;
const EXP = 4;
const IAT = 6;
const HCERT = -260;
const KEY_USAGE = {
  t: "1.3.6.1.4.1.1847.2021.1.1",
  v: "1.3.6.1.4.1.1847.2021.1.2",
  r: "1.3.6.1.4.1.1847.2021.1.3",
};

export class Invalid extends Error {
  constructor(step, detail) {
    super(`${step}: ${detail || ""}`);
    this.step = step;
    this.detail = detail || "";
  }
}

function step(name, fn) {
  try {
    return fn();
  } catch (error) {
    if (error instanceof Invalid) throw error;
    throw new Invalid(name, String((error && error.message) || error));
  }
}

// Base45 (RFC 9285), strict: unknown characters, a dangling character or a value
// out of range are errors. (The npm `base45` packages are Node-only and lenient.)
const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
export function base45Decode(text) {
  const values = Array.from(text, (c) => {
    const v = B45.indexOf(c);
    if (v < 0) throw new Error(`invalid character ${JSON.stringify(c)}`);
    return v;
  });
  if (values.length % 3 === 1) throw new Error("invalid length");
  const out = [];
  for (let i = 0; i < values.length; i += 3) {
    if (values.length - i >= 3) {
      const x = values[i] + values[i + 1] * 45 + values[i + 2] * 2025;
      if (x > 0xffff) throw new Error("value out of range");
      out.push(x >> 8, x & 0xff);
    } else {
      const x = values[i] + values[i + 1] * 45;
      if (x > 0xff) throw new Error("value out of range");
      out.push(x);
    }
  }
  return new Uint8Array(out);
}

function decoder() {
  return new window.CBOR.Decoder({ mapsAsObjects: false, useRecords: false });
}

function get(map, key) {
  return map instanceof Map ? map.get(key) : undefined;
}

function isBytes(value) {
  return value instanceof Uint8Array;
}

function untag(item, tag) {
  if (item && typeof item === "object" && "tag" in item && "value" in item && item.tag === tag) return item.value;
  return item;
}

export function unprefix(text) {
  return step("prefix", () => {
    const trimmed = String(text).trim();
    if (!trimmed.startsWith(PREFIX)) throw new Invalid("prefix", "no HC1: context identifier");
    return trimmed.slice(PREFIX.length);
  });
}

export function parseCose(bytes) {
  return step("cose", () => {
    let item = untag(decoder().decode(bytes), 61);
    if (item && typeof item === "object" && "tag" in item && "value" in item) {
      if (item.tag !== 18) throw new Error(`unexpected tag ${item.tag}`);
      item = item.value;
    }
    if (!Array.isArray(item) || item.length !== 4) throw new Error("COSE_Sign1 must be an array of four items");
    const [protectedBytes, unprotected, payload, signature] = item;
    if (!isBytes(protectedBytes) || !isBytes(payload) || !isBytes(signature)) throw new Error("byte strings expected");
    if (!(unprotected instanceof Map)) throw new Error("unprotected header is not a map");
    const prot = protectedBytes.length ? decoder().decode(protectedBytes) : new Map();
    if (!(prot instanceof Map)) throw new Error("protected header is not a map");
    return { protectedBytes, protected: prot, unprotected, payload, signature };
  });
}

function plain(value) {
  if (value instanceof Map) {
    const out = {};
    for (const [k, v] of value) out[String(k)] = plain(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(plain);
  if (isBytes(value)) throw new Error("byte string in the health certificate");
  if (value instanceof Date) return value.toISOString();
  return value;
}

export function parseCwt(cose) {
  return step("cwt", () => {
    const claims = decoder().decode(cose.payload);
    if (!(claims instanceof Map)) throw new Error("CWT claims are not a map");
    const hcert = get(claims, HCERT);
    const dcc = get(hcert, 1);
    if (!(dcc instanceof Map)) throw new Error("the health certificate is not a map");
    return { claims, dcc: plain(dcc) };
  });
}

function kidOf(cose) {
  let kid = get(cose.protected, KID);
  if (kid === undefined) kid = get(cose.unprotected, KID);
  return isBytes(kid) ? kid : null;
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
}

// keys: the `keys` array of /certificates/keys.json ({kid: base64, jwk, key_usage}).
export function findKey(kid, keys) {
  return step("kid", () => {
    const wanted = kid ? toBase64(kid) : null;
    const key = wanted && keys.find((k) => k.kid === wanted);
    if (!key) throw new Invalid("kid", "unknown kid");
    return key;
  });
}

// Just the CBOR of ["Signature1", protected, h'', payload], encoded by hand so the
// bytes are exactly what the signer signed.
function head(major, length) {
  if (length < 24) return [(major << 5) | length];
  if (length < 0x100) return [(major << 5) | 24, length];
  if (length < 0x10000) return [(major << 5) | 25, length >> 8, length & 0xff];
  return [(major << 5) | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

function toBeSigned(cose) {
  const context = new TextEncoder().encode("Signature1");
  const parts = [
    [0x84],
    head(3, context.length),
    context,
    head(2, cose.protectedBytes.length),
    cose.protectedBytes,
    head(2, 0),
    head(2, cose.payload.length),
    cose.payload,
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function checkSignature(cose, key) {
  return step("signature", () => {
    const alg = get(cose.protected, ALG) ?? get(cose.unprotected, ALG);
    if (alg !== ES256 || !key.jwk || key.jwk.crv !== "P-256") throw new Error(`algorithm ${alg} is not supported here`);
    if (cose.signature.length !== 64) throw new Error("an ES256 signature is 64 bytes");
    const x = fromBase64Url(key.jwk.x);
    const y = fromBase64Url(key.jwk.y);
    const publicKey = new Uint8Array(65);
    publicKey[0] = 4;
    publicKey.set(x, 1);
    publicKey.set(y, 33);
    if (!p256.verify(cose.signature, toBeSigned(cose), publicKey, { lowS: false })) {
      throw new Invalid("signature", "signature does not verify");
    }
  });
}

export function checkExpiry(claims, clock) {
  return step("expiry", () => {
    const now = clock.getTime() / 1000;
    const exp = Number(get(claims, EXP));
    const iat = get(claims, IAT);
    if (!Number.isFinite(exp)) throw new Invalid("expiry", "no expiry");
    if (iat !== undefined && now < Number(iat)) throw new Invalid("expiry", "not valid yet");
    if (now > exp) throw new Invalid("expiry", "expired");
  });
}

export function checkKeyUsage(key, dcc) {
  return step("key_usage", () => {
    const usage = (key.key_usage || []).map((oid) => oid.replace("1.3.6.1.4.1.0.1847.", "1.3.6.1.4.1.1847."));
    if (!usage.some((oid) => Object.values(KEY_USAGE).includes(oid))) return;
    for (const [kind, oid] of Object.entries(KEY_USAGE)) {
      if (kind in dcc && !usage.includes(oid)) throw new Invalid("key_usage", `may not sign ${kind}`);
    }
  });
}

// The browser checks the shape a person relies on; the full JSON schema runs on the
// server (at issue, and in POST /api/v1/certificates/verify).
export function checkSchema(dcc) {
  return step("schema", () => {
    const kinds = ["v", "t", "r"].filter((k) => k in dcc);
    if (typeof dcc.ver !== "string" || typeof dcc.dob !== "string") throw new Error("ver and dob required");
    if (!dcc.nam || typeof dcc.nam.fnt !== "string") throw new Error("nam.fnt required");
    if (kinds.length !== 1 || !Array.isArray(dcc[kinds[0]]) || dcc[kinds[0]].length !== 1) {
      throw new Error("exactly one certificate entry");
    }
  });
}

export function decode(text) {
  const compressed = step("base45", () => base45Decode(unprefix(text)));
  const bytes = step("zlib", () => window.pako.inflate(compressed));
  const cose = parseCose(bytes);
  const { claims, dcc } = parseCwt(cose);
  return { cose, claims, dcc, kid: kidOf(cose) };
}

// {valid: true, dcc, claims, issuer, expires} or {valid: false, step, detail}.
export function verify(text, { keys, clock = new Date() }) {
  try {
    const decoded = decode(text);
    const key = findKey(decoded.kid, keys);
    checkSignature(decoded.cose, key);
    checkExpiry(decoded.claims, clock);
    checkKeyUsage(key, decoded.dcc);
    checkSchema(decoded.dcc);
    return {
      valid: true,
      dcc: decoded.dcc,
      issuer: get(decoded.claims, ISS),
      expires: new Date(Number(get(decoded.claims, EXP)) * 1000),
    };
  } catch (error) {
    if (error instanceof Invalid) return { valid: false, step: error.step, detail: error.detail };
    return { valid: false, step: "prefix", detail: String(error) };
  }
}
