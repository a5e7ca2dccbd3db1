// Swabline sampling station: scan tubes and people, offline first.
//
// Every capture is an event with a client-generated id, written to IndexedDB before
// the screen confirms it, and sent to POST /api/v1/station/events in batches when the
// network allows. The screen never waits for the server: what it shows offline comes
// from the scan itself (our QR carries initials and birth year; a CCCD QR carries the
// name), and the server's answer refines it when it arrives.

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

const config = JSON.parse($("#station-config").textContent);
const STRINGS = JSON.parse($("#station-strings").textContent);
const BATCH_SIZE = 200;
const SYNC_EVERY_MS = 5000;
const REQUEST_TIMEOUT_MS = 15000;
const CAMERA_EVERY_MS = 90;
const CAMERA_REPEAT_MS = 2000;
// Reason codes of the server (swabline/sampling/messages.py) the station acts on.
// A sampler may override these on purpose (recall, recollection):
const OVERRIDABLE = new Set(["already_sampled", "needs_override"]);
// Not recorded by the server: send the event again later.
const TRANSIENT = new Set(["retry", "tube_unknown"]);

function t(key, params = {}) {
  return (STRINGS[key] || key).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

// --- Scans ------------------------------------------------------------------------

const INVISIBLE = /[\ufeff\u200b\u200c\u200d\u2060\u0000]/g;
const CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";
const CODE_ALPHABET = "346789ACDEFHJKMNPQRTWXY";
const PERSON_QR = /^SW1:([A-Z2-7]{26}):([A-Z]{0,4})([0-9]{4}):([0-9A-Z*])$/;
const TUBE_LENGTH = 12;

// The Damm check digit, as swabline/sampling/codes.py: a misread label is refused
// here, offline too, instead of opening a tube the server will not know.
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

function dammValid(digits) {
  let interim = 0;
  for (const ch of digits) interim = DAMM[interim][ch.charCodeAt(0) - 48];
  return interim === 0;
}

function fold(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d");
}

// ISO/IEC 7064 MOD 37-2 over 0-9 A-Z, as swabline/people/qr.py.
function qrCheckChar(body) {
  const m = CHECK_ALPHABET.length;
  let product = 0;
  for (const ch of body) {
    const index = CHECK_ALPHABET.indexOf(ch);
    if (index < 0 || ch === "*") continue;
    product = ((product + index) * 2) % m;
  }
  return CHECK_ALPHABET[(m + 1 - product) % m];
}

// Weighted sum over the confusable-free alphabet, as swabline/people/codes.py.
function personCode(text) {
  const cleaned = text.toUpperCase().replace(/[ .-]/g, "");
  if (cleaned.length !== 8 || [...cleaned].some((ch) => !CODE_ALPHABET.includes(ch))) return null;
  const body = cleaned.slice(0, 7);
  const total = [...body].reduce((sum, ch, i) => sum + (i + 1) * CODE_ALPHABET.indexOf(ch), 0);
  return CODE_ALPHABET[total % CODE_ALPHABET.length] === cleaned[7] ? cleaned : null;
}

function parseCccd(text) {
  const fields = text.split("|").map((f) => f.trim());
  if (fields.length && fields[fields.length - 1] === "" && fields.length > 7) fields.pop();
  if (fields.length < 6 || fields.length > 7) return null;
  // Seven fields: ID|oldID|name|DOB|sex|address|issued; some readers drop oldID.
  const [nameAt, dobAt] = /^\d{8}$/.test(fields[3] || "") && !/^\d*$/.test(fields[2]) ? [2, 3] : [1, 2];
  const name = (fields[nameAt] || "").normalize("NFC");
  const dob = fields[dobAt] || "";
  if (!name || /^\d*$/.test(name) || !/^\d{8}$/.test(dob)) return null;
  return { id: fields[0], name, year: dob.slice(4) };
}

/** What a scanned or typed text is: a tube label, a person (how to show them), or an error. */
export function classify(raw, labelPattern = null) {
  const text = raw.replace(INVISIBLE, "").trim();
  const upper = text.toUpperCase();
  const compact = upper.replace(/\s+/g, "");
  if (labelPattern && labelPattern.test(compact) && !/^SW\d/.test(compact)) return { kind: "tube", code: compact };
  if (/^[0-9 ]+$/.test(text)) {
    // Our labels: 12 digits, never starting with 0 (a CCCD number does), Damm-checked.
    const digits = text.replace(/ /g, "");
    if (digits.length !== TUBE_LENGTH || digits[0] === "0") return { kind: "error", message: "bad_tube" };
    return dammValid(digits) ? { kind: "tube", code: digits } : { kind: "error", message: "bad_tube_check" };
  }
  if (/^\d{12}\|/.test(text)) {
    const card = parseCccd(text);
    if (!card) return { kind: "error", message: "bad_cccd" };
    return { kind: "person", key: `C:${card.id}`, scan: text, name: card.name, year: card.year, source: "cccd" };
  }
  if (!/^[\x00-\x7f]*$/.test(upper) && /^S[UW]1:/.test(fold(upper).toUpperCase())) {
    return { kind: "error", message: "keyboard" };
  }
  if (/^SW\d/.test(upper)) {
    const match = PERSON_QR.exec(upper);
    if (!match) return { kind: "error", message: "bad_qr" };
    const [, token, initials, year, check] = match;
    if (qrCheckChar(`SW1${token}${initials}${year}`) !== check) return { kind: "error", message: "bad_qr" };
    return { kind: "person", key: `Q:${token}`, scan: upper, name: initials || "—", year, source: "qr" };
  }
  const code = personCode(text);
  if (code) {
    return { kind: "person", key: `H:${code}`, scan: code, name: `${code.slice(0, 4)}-${code.slice(4)}`, year: "", source: "code" };
  }
  return { kind: "error", message: /[^\x00-\x7f]/.test(text) ? "keyboard" : "unknown_scan" };
}

// --- Storage (IndexedDB) ------------------------------------------------------------

// Event ids are version 7 UUIDs (RFC 9562): the time in milliseconds, then random
// bits. The server keeps them in unique indexes and looks each batch's up to answer
// replays; time-ordered ids land at the indexes' right edge, where pages are hot.
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("swabline-station", 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("events", { keyPath: "id" });
      db.createObjectStore("registrations", { keyPath: "id" });
      db.createObjectStore("meta", { keyPath: "key" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const OPEN_STATUSES = new Set(["pending", "held", "conflict"]);

/** Keep an event while it waits or needs attention; once settled, forget it: its scan
 * may be a CCCD QR with a name, a date of birth and an address. */
function store(tx, record) {
  if (OPEN_STATUSES.has(record.status)) tx.objectStore("events").put(record);
  else tx.objectStore("events").delete(record.id);
}

function write(fn) {
  return new Promise((resolve, reject) => {
    const tx = S.db.transaction(["events", "registrations", "meta"], "readwrite");
    fn(tx);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function readAll(store) {
  return new Promise((resolve, reject) => {
    const request = S.db.transaction(store).objectStore(store).getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// --- State ------------------------------------------------------------------------

const S = {
  db: null,
  user: config.user,
  deviceId: null,
  seq: 0,
  site: null,
  tube: null, // {code, kind, limit, status, site, members: [...], serverCount}
  seen: {}, // person key -> tube code, this campaign, this device
  queue: new Map(), // event id -> record, for every event not yet done
  regs: new Map(), // registration id -> record, pending
  online: navigator.onLine,
  syncing: false,
  syncAgain: false,
  alert: "",
  needLogin: false,
  oneByOne: false,
  banner: null, // {event, t0} of the scan the banner shows
  t0: null, // when the scan being handled was made (performance.now())
  offer: null, // what "Sample again" in the banner would do
};
window.__stationTimings = { local: [], confirmed: [] };

const tubeKey = () => `tube:${S.user}`;
const seenKey = () => `seen:${S.user}:${S.site ? S.site.campaign_id : ""}`;
const siteStorageKey = () => `swabline.station.site.${S.user}`;

function saveState(tx) {
  const meta = tx.objectStore("meta");
  meta.put({ key: "device", id: S.deviceId, seq: S.seq });
  meta.put({ key: tubeKey(), tube: S.tube });
  if (S.site) meta.put({ key: seenKey(), seen: S.seen });
}

function makeEvent(type, fields, extra = {}) {
  S.seq += 1;
  const body = { id: uuid(), seq: S.seq, type, at: new Date().toISOString(), ...fields };
  return {
    id: body.id,
    seq: body.seq,
    user: S.user,
    site: S.site.public_id,
    status: "pending",
    created: Date.now(),
    body,
    result: null,
    ...extra,
  };
}

/** Store the events, the registration (if any) and the station state in one transaction. */
async function commit(records, registration = null) {
  for (const record of records) S.queue.set(record.id, record);
  if (registration) S.regs.set(registration.id, registration);
  await write((tx) => {
    for (const record of records) tx.objectStore("events").put(record);
    if (registration) tx.objectStore("registrations").put(registration);
    saveState(tx);
  });
  render();
  syncSoon();
}

function activeMembers(tube = S.tube) {
  return tube ? tube.members.filter((m) => m.status !== "conflict" && m.status !== "duplicate") : [];
}

function tubeCount(tube = S.tube) {
  if (!tube) return 0;
  const waiting = [...S.queue.values()].some(
    (r) => r.body.tube === tube.code && (r.status === "pending" || r.status === "held"),
  );
  return !waiting && tube.serverCount != null ? tube.serverCount : activeMembers(tube).length;
}

// --- Feedback ---------------------------------------------------------------------

let audio = null;
const TONES = {
  ok: [[1175, 0.09]],
  dup: [[700, 0.07], [700, 0.07]],
  warn: [[520, 0.16], [392, 0.22]],
  error: [[196, 0.4]],
};
const BUZZ = { ok: 60, dup: [40, 60, 40], warn: [150, 80, 150], error: 400 };

function feedback(kind) {
  const activated = navigator.userActivation ? navigator.userActivation.hasBeenActive : true;
  if (!activated) return;
  try {
    audio = audio || new AudioContext();
    let at = audio.currentTime;
    for (const [freq, length] of TONES[kind]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.18, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + length);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + length);
      at += length + 0.05;
    }
  } catch {
    // No audio device: the banner and the vibration still confirm.
  }
  if (navigator.vibrate) navigator.vibrate(BUZZ[kind]);
}

// --- Rendering ----------------------------------------------------------------------

const root = $("[data-testid=station]");
const input = $("#st-scan-input");

function setText(selector, text, scope = root) {
  const el = $(selector, scope);
  if (el.textContent !== text) el.textContent = text;
}

function render() {
  root.dataset.state = S.site ? "ready" : "pick";
  $("[data-testid=site-picker]").hidden = Boolean(S.site);
  $("[data-testid=station-main]").hidden = !S.site;
  setText("[data-testid=site-name]", S.site ? `${S.site.name} · ${S.site.ward}` : "");
  const net = $("[data-testid=network]");
  net.dataset.online = String(S.online);
  net.textContent = S.online ? t("online") : t("offline");

  const mine = [...S.queue.values()].filter((r) => r.user === S.user);
  const waiting = mine.filter((r) => r.status === "pending" || r.status === "held").length;
  const others = [...S.queue.values()].filter((r) => r.user !== S.user && r.status !== "conflict").length;
  setText("[data-testid=pending-count]", String(waiting));
  $("[data-testid=pending]").dataset.count = String(waiting);
  const alert = S.alert || (others ? t("other_user", { count: others }) : "");
  const alertEl = $("[data-testid=sync-alert]");
  alertEl.hidden = !alert;
  if (alertEl.dataset.text !== alert || alertEl.dataset.login !== String(S.needLogin)) {
    alertEl.dataset.text = alert;
    alertEl.dataset.login = String(S.needLogin);
    const parts = [alert];
    if (S.needLogin) {
      const link = document.createElement("a");
      link.href = config.login;
      link.textContent = t("log_in");
      parts.push(" ", link);
    }
    alertEl.replaceChildren(...parts);
  }

  renderTube();
  renderConflicts(mine.filter((r) => r.status === "conflict"));
}

function renderTube() {
  const tube = S.tube;
  const status = tube ? tube.status : "none";
  root.dataset.tube = status;
  $("[data-testid=tube]").dataset.status = status;
  setText("[data-testid=tube-code]", tube ? formatTube(tube.code) : "—");
  setText("[data-testid=tube-kind]", tube ? t(tube.kind) : "");
  setText("[data-testid=tube-count]", String(tubeCount()));
  setText("[data-testid=tube-limit]", String(tube ? tube.limit : defaultLimit()));
  setText("[data-testid=scan-label]", status === "open" ? t("scan_people") : t("no_tube"));
  for (const button of $$("[data-needs=open]")) button.disabled = status !== "open";
  $("[data-testid=kind-choice]").hidden = status === "open";

  const list = $("[data-testid=members]");
  const members = tube ? tube.members : [];
  const items = members.map((m, i) => {
    const li = document.createElement("li");
    li.dataset.testid = "member";
    li.dataset.status = m.status;
    li.value = i + 1;
    const who = document.createElement("span");
    who.className = "st-member-name";
    who.textContent = m.year ? `${m.name}, ${m.year}` : m.name;
    const state = document.createElement("span");
    state.className = "st-member-status";
    state.textContent = t(`status_${m.status === "held" ? "pending" : m.status}`);
    li.append(who, state);
    return li;
  });
  list.replaceChildren(...items.reverse());
}

function renderConflicts(conflicts) {
  const box = $("[data-testid=conflicts]");
  box.hidden = conflicts.length === 0;
  const items = conflicts
    .sort((a, b) => a.seq - b.seq)
    .map((record) => {
      const li = document.createElement("li");
      li.className = "st-conflict";
      li.dataset.testid = "conflict";
      li.dataset.event = record.id;
      li.dataset.reason = (record.result && record.result.reason) || "";
      const who = document.createElement("p");
      who.className = "st-conflict-who";
      const person = personLabel(record);
      who.textContent = [person, record.body.tube].filter(Boolean).join(" · ");
      const message = document.createElement("p");
      message.className = "st-conflict-message";
      message.dataset.testid = "conflict-message";
      message.textContent = (record.result && record.result.message) || t("conflict");
      const actions = document.createElement("div");
      actions.className = "st-conflict-actions";
      if (canOverride(record)) {
        actions.append(button(t("override"), "conflict-override", "st-btn st-btn-warn", record.id));
      }
      actions.append(button(t("skip"), "conflict-dismiss", "st-btn", record.id));
      li.append(who, message, actions);
      return li;
    });
  $(".st-conflict-list", box).replaceChildren(...items);
}

function button(label, action, className, eventId) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.dataset.action = action;
  b.dataset.testid = action;
  b.dataset.event = eventId;
  b.textContent = label;
  return b;
}

/** A replayed event answers with its first fate and reason. */
function effective(result) {
  if (!result) return { fate: "", reason: "" };
  if (result.reason === "replayed" && result.first_fate) return { fate: result.first_fate, reason: result.first_reason || "" };
  return { fate: result.fate, reason: result.reason || "" };
}

function personLabel(record) {
  const person = record.result && record.result.person;
  if (person) return `${person.display}, ${person.birth_year}`;
  const label = record.label || {};
  return label.year ? `${label.name}, ${label.year}` : label.name || "";
}

function canOverride(record) {
  return record.body.type === "add_person" && OVERRIDABLE.has(effective(record.result).reason);
}

/** Show the outcome of a scan; `kind` is ok, dup, warn, error or info. */
function showBanner(kind, { name = "", year = "", count = "", message = "", offer = null, event = null, confirmed = false } = {}) {
  const banner = $("[data-testid=banner]");
  // A banner about no event (a notice, an error) ends the wait for the last scan's answer.
  if (!event) S.banner = null;
  banner.dataset.kind = kind;
  banner.dataset.event = event || "";
  banner.dataset.confirmed = String(confirmed);
  setText("[data-testid=banner-name]", name);
  setText("[data-testid=banner-year]", year);
  setText("[data-testid=banner-count]", count);
  setText("[data-testid=banner-message]", message);
  S.offer = offer;
  $(".st-banner-actions", banner).hidden = !offer;
  banner.classList.remove("st-flash");
  void banner.offsetWidth; // restart the flash animation
  banner.classList.add("st-flash");
}

function countText(tube = S.tube) {
  return tube ? `${tubeCount(tube)}/${tube.limit}` : "";
}

function markTiming(list, t0) {
  if (t0 == null) return;
  requestAnimationFrame(() => setTimeout(() => window.__stationTimings[list].push(performance.now() - t0), 0));
}

// --- Capture ------------------------------------------------------------------------

let patternCache = [null, null];
function labelPattern() {
  // Pre-printed supplier labels the campaign accepts besides our 12-digit codes.
  const source = S.site && S.site.label_pattern;
  if (!source) return null;
  if (patternCache[0] !== source) {
    try {
      patternCache = [source, new RegExp(`^(?:${source})$`)];
    } catch {
      patternCache = [source, null];
    }
  }
  return patternCache[1];
}

function formatTube(code) {
  return /^\d{12}$/.test(code) ? code.replace(/(\d{4})(?=\d)/g, "$1 ") : code;
}

function selectedKind() {
  const checked = $("input[name=kind]:checked");
  return checked ? checked.value : "pool";
}

function defaultLimit() {
  if (!S.site) return 0;
  return selectedKind() === "individual" ? 1 : S.site.pool_limit;
}

async function handleScan(raw, t0) {
  const scan = classify(raw, labelPattern());
  S.t0 = t0;
  if (scan.kind === "error") {
    showBanner("error", { message: t(scan.message) });
    feedback("error");
  } else if (scan.kind === "tube") {
    await scanTube(scan.code);
  } else {
    await scanPerson(scan);
  }
  markTiming("local", t0);
}

async function scanTube(code) {
  const tube = S.tube;
  if (tube && tube.status === "open") {
    if (code === tube.code) {
      showBanner("dup", { count: countText(), message: t("scan_people") });
      feedback("dup");
    } else {
      showBanner("warn", { count: countText(), message: t("close_first", { code: formatTube(tube.code) }) });
      feedback("warn");
    }
    return;
  }
  const kind = selectedKind();
  S.tube = { code, kind, limit: defaultLimit(), status: "open", site: S.site.public_id, members: [], serverCount: null };
  const record = makeEvent("open_tube", { tube: code, kind });
  S.banner = { event: record.id, t0: null };
  await commit([record]);
  showBanner("ok", { name: t("tube_opened", { code: formatTube(code) }), count: countText(), message: t("scan_people"), event: record.id });
  answeredAlready(record);
}

async function scanPerson(scan, { override = false, reason = "", kind = "", resolves = null } = {}) {
  const tube = S.tube;
  if (!tube || tube.status !== "open") {
    showBanner("warn", { name: scan.name, year: scan.year, message: t("scan_tube_first") });
    feedback("warn");
    return;
  }
  const already = activeMembers().find((m) => m.key === scan.key || (scan.person && m.person === scan.person));
  if (already) {
    showBanner("dup", {
      name: already.name,
      year: already.year,
      count: countText(),
      message: t("duplicate_in_tube", { name: already.name }),
    });
    feedback("dup");
    return;
  }
  const earlier = S.seen[scan.key];
  if (!override && earlier && earlier !== tube.code) {
    showBanner("warn", {
      name: scan.name,
      year: scan.year,
      count: countText(),
      message: `${t("already_sampled", { code: formatTube(earlier) })} ${t("override_hint")}`,
      offer: { scan },
    });
    feedback("warn");
    return;
  }
  await addMember(scan, { override, reason, kind, resolves });
}

async function addMember(scan, { override = false, reason = "", registration = null, kind = "", resolves = null } = {}) {
  const tube = S.tube;
  const fields = { tube: tube.code, scan: scan.scan || "", override, reason };
  if (kind) fields.kind = kind;
  if (resolves) fields.resolves = resolves;
  if (scan.person) fields.person = scan.person;
  const record = makeEvent("add_person", fields, {
    label: { name: scan.name, year: scan.year, key: scan.key },
    status: registration ? "held" : "pending",
    reg: registration ? registration.id : null,
  });
  tube.members.push({
    event: record.id,
    key: scan.key,
    scan: scan.scan || "",
    name: scan.name,
    year: scan.year,
    person: scan.person || null,
    status: record.status,
  });
  S.seen[scan.key] = tube.code;
  const records = [record];
  const full = activeMembers().length >= tube.limit;
  if (full) {
    tube.status = "closed";
    records.push(makeEvent("close_tube", { tube: tube.code }));
  }
  S.banner = { event: record.id, t0: S.t0 };
  S.t0 = null;
  await commit(records, registration);
  const offline = !S.online && scan.source === "qr";
  let message = offline ? t("added_offline", { code: formatTube(tube.code) }) : t("added", { code: formatTube(tube.code) });
  if (full) message = `${message} ${t("tube_full")}`;
  showBanner("ok", { name: scan.name, year: scan.year, count: countText(tube), message, event: record.id });
  answeredAlready(record);
}

/**
 * A sync already running can send a new event and get its answer while the event is
 * still being written to IndexedDB; the answer then came before the local banner.
 * Show the answer again over it, or the local "added" would hide a server's warning.
 */
function answeredAlready(record) {
  if (record.result) refreshBanner(record);
  if (record.status !== "conflict") feedback("ok");
}

async function removeLast() {
  const members = activeMembers();
  if (!S.tube || S.tube.status !== "open" || members.length === 0) {
    showBanner("info", { count: countText(), message: t("nothing_to_remove") });
    return;
  }
  const last = members[members.length - 1];
  S.tube.members.splice(S.tube.members.indexOf(last), 1);
  if (S.seen[last.key] === S.tube.code) delete S.seen[last.key];
  // Name the person meant, so the server refuses rather than removes someone else.
  const expected = last.person ? { person: last.person } : { scan: last.scan || "" };
  await commit([makeEvent("remove_last", { tube: S.tube.code, ...expected })]);
  showBanner("info", { count: countText(), message: t("removed", { name: last.year ? `${last.name}, ${last.year}` : last.name }) });
  feedback("dup");
}

async function closeTube() {
  if (!S.tube || S.tube.status !== "open") return;
  if (activeMembers().length === 0) {
    showBanner("warn", { count: countText(), message: t("empty_tube") });
    feedback("warn");
    return;
  }
  S.tube.status = "closed";
  await commit([makeEvent("close_tube", { tube: S.tube.code })]);
  showBanner("ok", { count: countText(), message: t("tube_closed", { code: formatTube(S.tube.code), count: tubeCount() }) });
  feedback("ok");
}

async function voidTube(reason) {
  const tube = S.tube;
  if (!tube || tube.status !== "open") return;
  for (const member of tube.members) if (S.seen[member.key] === tube.code) delete S.seen[member.key];
  tube.status = "void";
  tube.members = [];
  await commit([makeEvent("void_tube", { tube: tube.code, reason })]);
  showBanner("info", { message: t("tube_voided", { code: formatTube(tube.code) }) });
  feedback("dup");
}

async function quickRegister(fields) {
  const id = uuid();
  const year = (fields.birth.match(/(\d{4})\s*$/) || ["", ""])[1];
  const registration = {
    id,
    user: S.user,
    site: S.site.public_id,
    status: "pending",
    created: Date.now(),
    body: { id, site: S.site.public_id, device_id: S.deviceId, ...fields },
  };
  const scan = { key: `R:${id}`, scan: "", name: fields.full_name, year, source: "register" };
  await addMember(scan, { registration });
}

const OVERRIDE_KIND = { recall: "recall", recollect: "recollect", other: "" };

async function override(source, why) {
  // `source` is a conflict record from the server or a scan warned about on this device.
  // The server keeps both swabs: the second becomes a recall or recollection sample.
  const options = { override: true, reason: why, kind: OVERRIDE_KIND[why] || "" };
  if (source.scan) {
    await scanPerson(source.scan, options);
    return;
  }
  const record = source.record;
  const person = record.result && record.result.person;
  const label = record.label || {};
  const scan = {
    key: label.key || `P:${person && person.public_id}`,
    scan: record.body.scan || "",
    person: (person && person.public_id) || record.body.person,
    name: person ? person.display : label.name,
    year: person ? String(person.birth_year) : label.year,
    source: "override",
  };
  await settle(record, "resolved");
  options.resolves = record.id;
  if (S.tube && S.tube.status === "open" && S.tube.code === record.body.tube) {
    S.tube.members = S.tube.members.filter((m) => m.event !== record.id);
    await scanPerson(scan, options);
  } else {
    const fields = { tube: record.body.tube, scan: scan.scan, override: true, reason: why, resolves: record.id };
    if (options.kind) fields.kind = options.kind;
    if (scan.person) fields.person = scan.person;
    await commit([makeEvent("add_person", fields, { label: record.label })]);
  }
}

async function settle(record, status) {
  record.status = status;
  S.queue.delete(record.id);
  await write((tx) => {
    store(tx, record);
    saveState(tx);
  });
  render();
}

// --- Sync -------------------------------------------------------------------------

function csrfToken() {
  const name = `${config.csrf_cookie}=`;
  const part = document.cookie.split("; ").find((c) => c.startsWith(name));
  return part ? decodeURIComponent(part.slice(name.length)) : "";
}

async function post(url, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    return await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } finally {
    clearTimeout(timer);
  }
}

async function detailOf(response) {
  try {
    const data = await response.json();
    if (data.detail && Array.isArray(data.errors) && data.errors.length) {
      const first = data.errors[0];
      return first.message || first.msg || data.detail;
    }
    return data.detail || data.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function setOnline(online) {
  if (S.online !== online) {
    S.online = online;
    render();
  }
}

let syncTimer = null;
function syncSoon() {
  if (syncTimer == null) syncTimer = setTimeout(() => ((syncTimer = null), sync()), 0);
}

async function sync() {
  if (S.syncing) {
    S.syncAgain = true;
    return;
  }
  if (!navigator.onLine) {
    setOnline(false);
    return;
  }
  S.syncing = true;
  try {
    await syncRegistrations();
    await syncEvents();
    setOnline(true);
  } catch (error) {
    if (error instanceof TypeError || error.name === "AbortError") setOnline(false);
    else console.warn("station sync:", error);
  } finally {
    S.syncing = false;
    if (S.syncAgain) {
      S.syncAgain = false;
      syncSoon();
    }
  }
}

class Stop extends Error {}

async function syncRegistrations() {
  for (const registration of [...S.regs.values()].filter((r) => r.user === S.user && r.status === "pending")) {
    const response = await post(config.urls.people, registration.body);
    if (response.status === 401 || response.status === 403) return authProblem(response);
    if (response.status >= 500 || [404, 405, 429].includes(response.status)) throw new Stop(`HTTP ${response.status}`);
    const held = [...S.queue.values()].filter((r) => r.reg === registration.id);
    if (response.ok) {
      const data = await response.json();
      const person = data.person || data;
      for (const record of held) {
        record.body.person = person.public_id;
        record.status = record.status === "held" ? "pending" : record.status;
        updateMember(record, { status: record.status, person: person.public_id, name: person.display, year: person.birth_year });
      }
      registration.status = "done";
    } else {
      const message = t("registration_failed", { message: await detailOf(response) });
      for (const record of held) {
        record.status = "conflict";
        record.result = { id: record.id, fate: "conflict", reason: "registration", message, person: null, tube: null };
        updateMember(record, { status: "conflict" });
        if (S.banner && S.banner.event === record.id) showConflictBanner(record);
      }
      registration.status = "failed";
    }
    S.regs.delete(registration.id);
    await write((tx) => {
      tx.objectStore("registrations").delete(registration.id);
      for (const record of held) store(tx, record);
      saveState(tx);
    });
    render();
  }
}

function nextBatch() {
  const ordered = [...S.queue.values()].filter((r) => r.user === S.user).sort((a, b) => a.seq - b.seq);
  const batch = [];
  for (const record of ordered) {
    if (record.status === "held") break; // later events wait for its registration
    if (record.status !== "pending") continue;
    if (batch.length && record.site !== batch[0].site) break;
    batch.push(record);
    if (batch.length >= (S.oneByOne ? 1 : BATCH_SIZE)) break;
  }
  return batch;
}

async function syncEvents() {
  for (;;) {
    const batch = nextBatch();
    if (batch.length === 0) return;
    const response = await post(config.urls.events, {
      device_id: S.deviceId,
      site: batch[0].site,
      events: batch.map((r) => r.body),
    });
    if (response.status === 401 || response.status === 403) return authProblem(response);
    // An older server, a proxy error or overload: keep everything and try later.
    if (response.status >= 500 || [404, 405, 429].includes(response.status)) throw new Stop(`HTTP ${response.status}`);
    if (!response.ok) {
      // A batch the server cannot read: find the event at fault by sending one at a time.
      if (batch.length > 1) {
        S.oneByOne = true;
        continue;
      }
      const message = await detailOf(response);
      await applyResults(batch, [{ id: batch[0].id, fate: "conflict", reason: "invalid", message, person: null, tube: null }]);
      continue;
    }
    S.oneByOne = false;
    S.alert = "";
    S.needLogin = false;
    const data = await response.json();
    if (await applyResults(batch, data.results || [])) return;
  }
}

async function authProblem(response) {
  // No session (401), or no CSRF cookie any more (403): a new login fixes both.
  S.needLogin = response.status === 401 || !csrfToken();
  S.alert = S.needLogin ? t("sync_auth") : await detailOf(response);
  render();
  throw new Stop(S.alert);
}

function updateMember(record, changes) {
  const tubes = [S.tube].filter(Boolean);
  for (const tube of tubes) {
    const member = tube.members.find((m) => m.event === record.id);
    if (member) {
      Object.assign(member, changes);
      if (changes.year != null) member.year = String(changes.year);
    }
  }
}

/** Settle each sent event by its result; true when some must be sent again later. */
async function applyResults(batch, results) {
  const byId = new Map(batch.map((r) => [r.id, r]));
  const changed = [];
  let later = false;
  for (const result of results) {
    const record = byId.get(result.id);
    if (!record) continue;
    byId.delete(result.id);
    const { fate, reason } = effective(result);
    if (fate === "conflict" && TRANSIENT.has(reason) && (reason === "retry" || opening(record))) {
      later = true; // its tube is being opened, or the server was busy: keep it
      continue;
    }
    record.result = result;
    changed.push(record);
    adoptTube(result.tube);
    const closedAlready = record.body.type === "close_tube" && result.tube && result.tube.status !== "open";
    if (fate === "applied" || fate === "duplicate" || closedAlready) {
      record.status = "done";
      S.queue.delete(record.id);
      const person = result.person;
      const status = fate === "duplicate" && reason === "already_in_tube" ? "duplicate" : "done";
      updateMember(record, person ? { status, person: person.public_id, name: person.display, year: person.birth_year } : { status });
    } else {
      record.status = "conflict";
      onConflict(record);
    }
  }
  await write((tx) => {
    for (const record of changed) store(tx, record);
    saveState(tx);
  });
  render();
  for (const record of changed) refreshBanner(record);
  return later;
}

/** Whether the open_tube event of `record`'s tube is still waiting to be sent. */
function opening(record) {
  return [...S.queue.values()].some(
    (r) => r.body.type === "open_tube" && r.body.tube === record.body.tube && r.seq < record.seq && r.status !== "conflict",
  );
}

/** The server's state of the current tube wins over the count kept here. */
function adoptTube(state) {
  const tube = S.tube;
  if (!state || !tube || state.code !== tube.code) return;
  tube.serverCount = state.count;
  if (tube.status === "open" && state.status !== "open") tube.status = state.status;
}

function onConflict(record) {
  const { body } = record;
  if (body.type === "add_person") {
    updateMember(record, { status: "conflict" });
    if (S.seen[record.label && record.label.key] === body.tube) delete S.seen[record.label.key];
  } else if (body.type === "open_tube" && S.tube && S.tube.code === body.tube) {
    // A label the server refuses (not issued, used, another campaign).
    if (activeMembers().length === 0) {
      S.tube = null;
      record.status = "dismissed";
      S.queue.delete(record.id);
    } else {
      S.tube.status = "refused"; // its people stay listed as conflicts
    }
    showBanner("error", { message: record.result.message || t("bad_tube") });
    feedback("error");
  }
}

function refreshBanner(record) {
  if (!S.banner || S.banner.event !== record.id) return;
  const result = record.result || {};
  if (record.status === "conflict") {
    showConflictBanner(record);
  } else if (record.body.type === "open_tube") {
    const name = $("[data-testid=banner-name]").textContent;
    const message = effective(result).reason ? result.message : $("[data-testid=banner-message]").textContent;
    showBanner("ok", { name, count: countText(), message, event: record.id, confirmed: true });
  } else if (record.body.type === "add_person") {
    const member = S.tube && S.tube.members.find((m) => m.event === record.id);
    const name = member ? member.name : personLabel(record);
    const year = member ? member.year : "";
    const kind = member && member.status === "duplicate" ? "dup" : "ok";
    // The server's message repeats name and count, unless it is a notice (full and
    // closed, sampled again, already in the tube): then it is what the sampler must read.
    const notice = effective(result).reason;
    const message = notice && result.message ? result.message : $("[data-testid=banner-message]").textContent;
    showBanner(kind, { name, year, count: countText(), message, event: record.id, confirmed: true });
  }
  markTiming("confirmed", S.banner.t0);
}

function showConflictBanner(record) {
  showBanner("warn", {
    name: personLabel(record),
    count: countText(),
    message: (record.result && record.result.message) || t("conflict"),
    offer: canOverride(record) ? { record } : null,
    event: record.id,
    confirmed: true,
  });
  feedback("warn");
}

// --- Camera -------------------------------------------------------------------------

const camera = { stream: null, detector: null, timer: null, last: "", lastAt: 0, busy: false };

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const existing = $(`script[src="${src}"]`);
    if (existing && existing.dataset.loaded) return resolve();
    const script = existing || document.createElement("script");
    script.addEventListener("load", () => ((script.dataset.loaded = "1"), resolve()));
    script.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
    if (!existing) {
      script.src = src;
      document.head.append(script);
    }
  });
}

async function zxingDetector() {
  await loadScript(config.urls.ponyfill);
  const api = window.BarcodeDetectionAPI;
  const wasm = new URL(config.urls.wasm, location.href).href;
  await api.prepareZXingModule({
    overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
    fireImmediately: true,
  });
  const detector = new api.BarcodeDetector({ formats: ["qr_code", "code_128"] });
  return { name: "zxing", detect: async (video) => (await detector.detect(video)).map((b) => b.rawValue) };
}

async function jsqrDetector() {
  await loadScript(config.urls.jsqr);
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return {
    name: "jsqr",
    detect: async (video) => {
      const scale = Math.min(1, 800 / (video.videoWidth || 800));
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
      return found ? [found.data] : [];
    },
  };
}

async function makeDetector() {
  // A setting for trials and tests: "native", "zxing" or "jsqr".
  const wanted = localStorage.getItem("swabline.station.detector") || "";
  if ((!wanted || wanted === "native") && "BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const detector = new window.BarcodeDetector({ formats: ["qr_code", "code_128"].filter((f) => formats.includes(f)) });
        return { name: "native", detect: async (video) => (await detector.detect(video)).map((b) => b.rawValue) };
      }
    } catch (error) {
      console.warn("native BarcodeDetector unavailable:", error);
    }
  }
  if (wanted !== "jsqr") {
    try {
      return await zxingDetector();
    } catch (error) {
      console.warn("zxing-wasm unavailable, using jsQR:", error);
    }
  }
  return jsqrDetector();
}

async function openCamera() {
  const box = $("[data-testid=camera]");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showBanner("error", { message: t("camera_insecure") });
    return;
  }
  box.hidden = false;
  setText("[data-testid=camera-status]", t("camera_starting"));
  try {
    const [stream, detector] = await Promise.all([
      navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      }),
      camera.detector ? Promise.resolve(camera.detector) : makeDetector(),
    ]);
    camera.stream = stream;
    camera.detector = detector;
    const video = $("video", box);
    video.srcObject = stream;
    await video.play();
    box.dataset.detector = detector.name;
    box.dataset.active = "true";
    setText("[data-testid=camera-status]", "");
    tick();
  } catch (error) {
    console.warn("camera:", error);
    closeCamera();
    showBanner("error", { message: t("camera_denied") });
    feedback("error");
  }
}

function closeCamera() {
  clearTimeout(camera.timer);
  camera.timer = null;
  if (camera.stream) for (const track of camera.stream.getTracks()) track.stop();
  camera.stream = null;
  const box = $("[data-testid=camera]");
  box.hidden = true;
  box.dataset.active = "false";
  focusInput();
}

async function tick() {
  if (!camera.stream) return;
  const video = $("[data-testid=camera] video");
  if (video.readyState >= 2 && !camera.busy && !document.querySelector("dialog[open]")) {
    camera.busy = true;
    try {
      for (const text of await camera.detector.detect(video)) await cameraHit(text);
    } catch (error) {
      console.warn("detect:", error);
    } finally {
      camera.busy = false;
    }
  }
  if (camera.stream) camera.timer = setTimeout(tick, CAMERA_EVERY_MS);
}

async function cameraHit(text) {
  // A code held in front of the camera is read once, not once per frame.
  const now = performance.now();
  const repeat = text === camera.last && now - camera.lastAt < CAMERA_REPEAT_MS;
  camera.last = text;
  camera.lastAt = now;
  if (!repeat) await handleScan(text, now);
}

// --- Dialogs and input ---------------------------------------------------------------

function focusInput() {
  if (!S.site || document.querySelector("dialog[open]")) return;
  if (document.activeElement !== input) input.focus({ preventScroll: true });
}

function openDialog(id, prepare) {
  const dialog = $(id);
  const form = $("form", dialog);
  form.reset();
  for (const error of $$(".field-error", dialog)) error.hidden = true;
  if (prepare) prepare(dialog);
  dialog.showModal();
  const first = $("input[type=text]", dialog);
  if (first) first.focus();
  return dialog;
}

function formError(dialog, message) {
  const error = $(".field-error", dialog);
  error.textContent = message;
  error.hidden = false;
}

let pendingOverride = null;

function askOverride(source) {
  pendingOverride = source;
  openDialog("#st-override", (dialog) => {
    const who = source.scan ? (source.scan.year ? `${source.scan.name}, ${source.scan.year}` : source.scan.name) : personLabel(source.record);
    $("[data-testid=override-who]", dialog).textContent = who;
  });
}

async function onDialogSubmit(form, submitter) {
  const dialog = form.closest("dialog");
  if (submitter && submitter.value === "cancel") return dialog.close();
  const data = new FormData(form);
  if (form.dataset.form === "register") {
    const fields = {
      full_name: String(data.get("full_name") || "").trim().replace(/\s+/g, " "),
      birth: String(data.get("birth") || "").trim(),
      sex: String(data.get("sex") || ""),
      phone: String(data.get("phone") || "").trim(),
      national_id: String(data.get("national_id") || "").trim(),
    };
    const birthOk = /^(\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4})$/.test(fields.birth);
    if (!fields.full_name || !birthOk || !fields.sex) return formError(dialog, t("need_name_birth_sex"));
    dialog.close();
    await quickRegister(fields);
  } else if (form.dataset.form === "void") {
    let reason = String(data.get("reason") || "");
    const other = String(data.get("other") || "").trim();
    if (reason === "other" || !reason) reason = other;
    else if (other) reason = `${reason}: ${other}`;
    if (!reason) return formError(dialog, t("void_reason_needed"));
    dialog.close();
    await voidTube(reason);
  } else if (form.dataset.form === "override") {
    const source = pendingOverride;
    pendingOverride = null;
    dialog.close();
    if (source) await override(source, String(data.get("reason") || "recall"));
  }
  focusInput();
}

async function onAction(action, target) {
  switch (action) {
    case "change-site":
      if (S.tube && S.tube.status === "open") {
        showBanner("warn", { count: countText(), message: t("close_first", { code: formatTube(S.tube.code) }) });
      } else {
        S.site = null;
        render();
      }
      break;
    case "camera":
      if (camera.stream) closeCamera();
      else await openCamera();
      break;
    case "camera-close":
      closeCamera();
      break;
    case "keyboard":
      input.inputMode = "text";
      input.blur();
      input.focus();
      break;
    case "register":
      openDialog("#st-register");
      break;
    case "remove-last":
      await removeLast();
      break;
    case "close-tube":
      await closeTube();
      break;
    case "void-tube":
      openDialog("#st-void");
      break;
    case "dialog-cancel":
      target.closest("dialog").close();
      break;
    case "banner-override":
      if (S.offer) askOverride(S.offer);
      break;
    case "banner-skip":
      if (S.offer && S.offer.record) await settle(S.offer.record, "dismissed");
      showBanner("info", { count: countText(), message: S.tube && S.tube.status === "open" ? t("scan_people") : t("no_tube") });
      break;
    case "conflict-override": {
      const record = S.queue.get(target.dataset.event);
      if (record) askOverride({ record });
      break;
    }
    case "conflict-dismiss": {
      const record = S.queue.get(target.dataset.event);
      if (record) await settle(record, "dismissed");
      break;
    }
    default:
      break;
  }
}

function chooseSite(publicId) {
  const site = config.sites.find((s) => s.public_id === publicId);
  if (!site) return false;
  const changed = !S.site || S.site.public_id !== site.public_id;
  S.site = site;
  if (S.tube && S.tube.site !== site.public_id) S.tube = null;
  localStorage.setItem(siteStorageKey(), site.public_id);
  const kind = $(`input[name=kind][value=${site.kind}]`);
  if (kind && changed) kind.checked = true;
  // A campaign that tests people one by one takes no pools (the server refuses them).
  $("input[name=kind][value=pool]").disabled = site.kind === "individual";
  return true;
}

function bindEvents() {
  let t0 = null;
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      t0 = performance.now();
      event.preventDefault();
      submitScan(t0);
    }
  });
  $("[data-testid=scan-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    submitScan(performance.now());
  });
  root.addEventListener("click", async (event) => {
    const choice = event.target.closest("[data-site]");
    if (choice) {
      if (chooseSite(choice.dataset.site)) {
        await loadSeen();
        render();
        focusInput();
      }
      return;
    }
    const target = event.target.closest("[data-action]");
    if (target && !target.disabled) {
      await onAction(target.dataset.action, target);
      // Buttons that hide or disable themselves take the focus with them.
      if (target.dataset.action !== "keyboard") focusInput();
    }
  });
  root.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.dataset.form) return;
    event.preventDefault();
    onDialogSubmit(form, event.submitter);
  });
  for (const radio of $$("input[name=kind]")) radio.addEventListener("change", () => (render(), focusInput()));
  for (const dialog of $$("dialog")) dialog.addEventListener("close", () => setTimeout(focusInput, 0));
  root.addEventListener("focusout", () =>
    setTimeout(() => {
      const active = document.activeElement;
      if (!active || active === document.body || active.tagName === "BUTTON" || active.type === "radio") focusInput();
    }, 0),
  );
  window.addEventListener("online", () => (setOnline(true), syncSoon()));
  window.addEventListener("offline", () => setOnline(false));
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && syncSoon());
  setInterval(sync, SYNC_EVERY_MS);
}

let scanning = Promise.resolve();
function submitScan(t0) {
  const raw = input.value;
  input.value = "";
  if (!raw.trim()) return;
  if (matchMedia("(pointer: coarse)").matches) input.inputMode = "none";
  // Scans are handled one after another, in the order they were made.
  scanning = scanning.then(() => handleScan(raw, t0)).catch((error) => console.error("scan:", error));
}

// --- Start --------------------------------------------------------------------------

async function loadSeen() {
  const record = await new Promise((resolve) => {
    const request = S.db.transaction("meta").objectStore("meta").get(seenKey());
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
  S.seen = (record && record.seen) || {};
}

async function start() {
  S.db = await openDb();
  const [events, registrations, meta] = await Promise.all([readAll("events"), readAll("registrations"), readAll("meta")]);
  const device = meta.find((m) => m.key === "device");
  S.deviceId = device ? device.id : uuid();
  S.seq = device ? device.seq : 0;
  const stale = [];
  for (const record of events) {
    S.seq = Math.max(S.seq, record.seq);
    if (["pending", "held", "conflict"].includes(record.status)) S.queue.set(record.id, record);
    else stale.push(record.id);
  }
  for (const registration of registrations) if (registration.status === "pending") S.regs.set(registration.id, registration);
  const saved = meta.find((m) => m.key === tubeKey());
  const wanted = config.preselect || localStorage.getItem(siteStorageKey()) || (config.sites.length === 1 ? config.sites[0].public_id : "");
  if (wanted && chooseSite(wanted)) {
    if (saved && saved.tube && saved.tube.site === S.site.public_id) S.tube = saved.tube;
    await loadSeen();
  }
  await write((tx) => {
    for (const id of stale) tx.objectStore("events").delete(id);
    saveState(tx);
  });
  if (matchMedia("(pointer: coarse)").matches) input.inputMode = "none";
  bindEvents();
  render();
  focusInput();
  root.dataset.ready = "true";
  syncSoon();
  registerWorker();
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker
    .register(config.urls.sw, { scope: config.urls.scope })
    .then(() => navigator.serviceWorker.ready)
    .then(() => (root.dataset.offlineReady = "true"))
    .catch((error) => console.warn("service worker:", error));
}

start().catch((error) => {
  console.error("station failed to start:", error);
  showBanner("error", { message: String(error) });
});
