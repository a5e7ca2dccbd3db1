// The result bench: scan (or type) a tube code + Enter, press one key, Enter saves.
// Keys on the result box: n or - negative, p or + positive, i or * invalid,
// r ticks "replace" after a contradiction, Esc starts over. No mouse needed.
(function () {
  "use strict";
  var bench = document.getElementById("bench");
  if (!bench) return;
  var form = document.getElementById("entry-form");
  var scan = document.getElementById("scan");
  var panel = document.getElementById("tube-panel");
  var keys = document.getElementById("result-keys");
  var message = document.getElementById("entry-message");
  var recent = document.getElementById("recent");
  var replaceBox = document.getElementById("replace-box");
  var replace = document.getElementById("replace");
  var selected = "";
  var busy = false;
  var KEYS = { n: "negative", "-": "negative", p: "positive", "+": "positive", i: "invalid", "*": "invalid" };

  function say(text, ok) {
    message.textContent = text || "";
    message.className = ok ? "ok" : "bad";
  }

  function reset() {
    selected = "";
    panel.innerHTML = "";
    form.reset();
    replaceBox.hidden = true;
    scan.value = "";
    scan.focus();
  }

  function choose(value) {
    var radio = form.querySelector('input[name="value"][value="' + value + '"]');
    if (radio) radio.checked = true;
  }

  function lookUp(code) {
    busy = true;
    fetch(bench.dataset.tubeUrl + "?code=" + encodeURIComponent(code), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    }).then(function (r) { return r.json(); }).then(function (data) {
      busy = false;
      if (!data.ok) { say(data.message, false); scan.select(); return; }
      selected = data.code;
      panel.innerHTML = data.html;
      form.querySelectorAll('input[name="value"]').forEach(function (r) { r.checked = false; });
      replaceBox.hidden = true;
      replace.checked = false;
      say("", true);
      keys.focus();
    }).catch(function () { busy = false; say(bench.dataset.msgFailed, false); });
  }

  function save() {
    if (busy) return;
    if (!selected) { say(bench.dataset.msgNoTube, false); scan.focus(); return; }
    if (!form.querySelector('input[name="value"]:checked')) { say(bench.dataset.msgNoValue, false); keys.focus(); return; }
    busy = true;
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) { return r.json(); }).then(function (data) {
      busy = false;
      if (data.recent) recent.innerHTML = data.recent;
      if (data.ok) { reset(); say(data.message, true); return; }
      say(data.message, false);
      if (data.code === "contradiction") { replaceBox.hidden = false; keys.focus(); } else { reset(); say(data.message, false); }
    }).catch(function () { busy = false; say(bench.dataset.msgFailed, false); });
  }

  scan.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    var code = scan.value.trim();
    if (code) lookUp(code);
  });

  keys.addEventListener("keydown", function (event) {
    var key = event.key.toLowerCase();
    if (KEYS[key]) { event.preventDefault(); choose(KEYS[key]); return; }
    if (key === "r" && !replaceBox.hidden) { event.preventDefault(); replace.checked = !replace.checked; return; }
    if (key === "enter") { event.preventDefault(); save(); return; }
    if (key === "escape") { event.preventDefault(); reset(); return; }
    // The scanner started the next tube before a result key: start over from it,
    // saying that the previous tube was not saved (it stays on the worklist).
    if (/^[0-9]$/.test(event.key)) {
      event.preventDefault();
      var dropped = selected;
      reset();
      scan.value = event.key;
      say(dropped + ": " + bench.dataset.msgDropped, false);
    }
  });

  form.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); reset(); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (document.activeElement === scan) return;
    save();
  });

  recent.addEventListener("submit", function (event) {
    var undo = event.target;
    if (!undo.classList.contains("undo")) return;
    event.preventDefault();
    fetch(undo.action, {
      method: "POST", body: new FormData(undo), credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.recent) recent.innerHTML = data.recent;
      say(data.message, data.ok);
      scan.focus();
    }).catch(function () { say(bench.dataset.msgFailed, false); });
  });
})();
