// The /verify page: read a code (camera, picture file or pasted text), verify it in
// the browser against the published keys, and say valid / invalid with the reason.
import { verify, decode } from "./hcert.js";

const root = document.querySelector("[data-verify]");
const S = JSON.parse(root.dataset.strings);
const URLS = JSON.parse(root.dataset.urls);
const $ = (selector) => root.querySelector(selector);
let keysPromise = null;

function loadKeys() {
  if (!keysPromise) {
    keysPromise = fetch(URLS.keys, { credentials: "omit" })
      .then((response) => {
        if (!response.ok) throw new Error(`keys: ${response.status}`);
        return response.json();
      })
      .then((doc) => doc.keys)
      .catch((error) => {
        keysPromise = null;
        throw error;
      });
  }
  return keysPromise;
}

function row(list, label, value) {
  if (!value) return;
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dd.dataset.field = label;
  list.append(dt, dd);
}

function formatDate(iso) {
  const parts = String(iso).split("-");
  return parts.length === 3 ? `${parts[2]}/${parts[1]}/${parts[0]}` : String(iso);
}

function formatMoment(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(date.getDate())}/${pad(date.getMonth() + 1)}/${date.getFullYear()} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function show(result) {
  const box = $("[data-testid=verdict]");
  const details = $("[data-testid=details]");
  details.replaceChildren();
  box.hidden = false;
  box.dataset.state = result.valid ? "valid" : "invalid";
  $("[data-testid=verdict-title]").textContent = result.valid ? S.valid : S.invalid;
  const reason = $("[data-testid=reason]");
  reason.textContent = result.valid ? "" : S[`step_${result.step}`] || result.detail;
  reason.dataset.step = result.valid ? "" : result.step;
  if (!result.valid) return;
  const dcc = result.dcc;
  const test = (dcc.t || [])[0] || {};
  const name = [dcc.nam.fn, dcc.nam.gn].filter(Boolean).join(" ") || [dcc.nam.fnt, dcc.nam.gnt].filter(Boolean).join(" ");
  row(details, S.name, name);
  row(details, S.dob, formatDate(dcc.dob));
  row(details, S.test, test.tt === "LP217198-3" ? S.rat : test.tt === "LP6464-4" ? S.naat : test.tt);
  row(details, S.result, test.tr === "260415000" ? S.negative : test.tr === "260373001" ? S.positive : test.tr);
  row(details, S.sampled, test.sc && formatMoment(test.sc));
  row(details, S.issuer, test.is || result.issuer);
  row(details, S.uvci, test.ci);
  row(details, S.expires, formatMoment(result.expires));
}

async function check(text) {
  const box = $("[data-testid=verdict]");
  box.hidden = false;
  box.dataset.state = "checking";
  $("[data-testid=verdict-title]").textContent = S.checking;
  $("[data-testid=reason]").textContent = "";
  $("[data-testid=details]").replaceChildren();
  let keys;
  try {
    keys = await loadKeys();
  } catch (error) {
    console.warn("keys:", error);
    show({ valid: false, step: "kid", detail: S.no_keys });
    return;
  }
  show(verify(text, { keys }));
}

// --- Reading QR codes (the station's zxing-wasm reader) ------------------------------

let detectorPromise = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
    document.head.append(script);
  });
}

function detector() {
  if (!detectorPromise) {
    detectorPromise = (async () => {
      await loadScript(URLS.ponyfill);
      const api = window.BarcodeDetectionAPI;
      const wasm = new URL(URLS.wasm, location.href).href;
      await api.prepareZXingModule({
        overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
        fireImmediately: true,
      });
      return new api.BarcodeDetector({ formats: ["qr_code"] });
    })();
  }
  return detectorPromise;
}

async function readPicture(file) {
  const found = await (await detector()).detect(await createImageBitmap(file));
  return found.length ? found[0].rawValue : null;
}

const camera = { stream: null, timer: null };

async function openCamera() {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    show({ valid: false, step: "picture", detail: S.camera_insecure });
    $("[data-testid=reason]").textContent = S.camera_insecure;
    return;
  }
  const box = $("[data-testid=camera]");
  box.hidden = false;
  $("[data-testid=camera-status]").textContent = S.camera_starting;
  try {
    const [stream, reader] = await Promise.all([
      navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false }),
      detector(),
    ]);
    camera.stream = stream;
    const video = $("video");
    video.srcObject = stream;
    await video.play();
    $("[data-testid=camera-status]").textContent = "";
    const tick = async () => {
      if (!camera.stream) return;
      try {
        const found = video.readyState >= 2 ? await reader.detect(video) : [];
        if (found.length) {
          closeCamera();
          $("[data-testid=text]").value = found[0].rawValue;
          await check(found[0].rawValue);
          return;
        }
      } catch (error) {
        console.warn("detect:", error);
      }
      camera.timer = setTimeout(tick, 200);
    };
    tick();
  } catch (error) {
    console.warn("camera:", error);
    closeCamera();
    $("[data-testid=camera-status]").textContent = S.camera_denied;
  }
}

function closeCamera() {
  clearTimeout(camera.timer);
  if (camera.stream) for (const track of camera.stream.getTracks()) track.stop();
  camera.stream = null;
  $("[data-testid=camera]").hidden = true;
}

// --- Wiring -------------------------------------------------------------------------

$("[data-testid=check-text]").addEventListener("click", () => check($("[data-testid=text]").value));
$("[data-testid=file]").addEventListener("change", async (event) => {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  try {
    const text = await readPicture(file);
    if (text === null) {
      show({ valid: false, step: "picture", detail: "" });
      return;
    }
    $("[data-testid=text]").value = text;
    await check(text);
  } catch (error) {
    console.warn("picture:", error);
    show({ valid: false, step: "picture", detail: String(error) });
  }
});
$("[data-testid=open-camera]").addEventListener("click", openCamera);
$("[data-testid=close-camera]").addEventListener("click", closeCamera);

// For partners' pages and tests: the same verifier, with any key list and clock.
window.swablineVerify = { verify, decode, loadKeys };
root.dataset.ready = "true";
loadKeys().catch(() => {});

if ("serviceWorker" in navigator) {
  navigator.serviceWorker
    .register(URLS.sw, { scope: URLS.scope })
    .then(() => navigator.serviceWorker.ready)
    .then(() => {
      root.dataset.offlineReady = "true";
      $("[data-testid=offline-ready]").textContent = S.offline_ready;
    })
    .catch((error) => console.warn("service worker:", error));
}
