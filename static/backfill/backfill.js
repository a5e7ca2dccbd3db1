// The paper backfill screen: keyboard only. Enter moves from field to field and
// confirms a person row; Enter on an empty person row closes the tube (one POST,
// all or nothing). Each confirmed row records how long it took (data-ms).
(function () {
  "use strict";
  var form = document.getElementById("bf");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var site = $("bf-site"), code = $("bf-code"), sheet = $("bf-sheet"), when = $("bf-when");
  var personInput = $("bf-person"), list = $("bf-people"), choices = $("bf-choices");
  var fresh = $("bf-new"), status = $("bf-status"), recent = $("bf-recent");
  var newName = $("bf-new-name"), newYear = $("bf-new-year"), newSex = $("bf-new-sex"), newPhone = $("bf-new-phone");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var people = [], found = [], started = null, startedRow = 0, busy = false;
  var clientId = uuid();

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function say(text, kind) {
    status.textContent = text;
    status.className = "bf-status " + (kind || "");
    status.setAttribute("role", kind === "error" ? "alert" : "status");
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, data: j }; }); });
  }
  function errorsText(errors) {
    var parts = [];
    Object.keys(errors || {}).forEach(function (k) { parts = parts.concat(errors[k]); });
    return form.dataset.msgError + " " + parts.join(" ");
  }
  function parseWhen(text) {
    text = text.trim();
    var m = /^(\d{1,2}):(\d{2})$/.exec(text);
    var today = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (m) return today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" + pad(today.getDate()) + "T" + pad(+m[1]) + ":" + m[2];
    m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})$/.exec(text);
    if (m) return m[1] + "-" + m[2] + "-" + m[3] + "T" + pad(+m[4]) + ":" + m[5];
    m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})$/.exec(text);
    if (m) return m[3] + "-" + pad(+m[2]) + "-" + pad(+m[1]) + "T" + pad(+m[4]) + ":" + m[5];
    return null;
  }
  function addPerson(p) {
    if (p.problem) {  // already sampled in this campaign: the row is refused here
      say(p.problem, "error");
      personInput.focus();
      return;
    }
    if (people.some(function (q) { return q.id === p.id; })) {
      say(p.name + " ×2", "error");
      return;
    }
    people.push(p);
    var li = document.createElement("li");
    li.dataset.testid = "bf-row";
    li.setAttribute("data-testid", "bf-row");
    li.dataset.person = p.id;
    li.textContent = p.name + " (" + p.year + ") · " + p.code;
    li.dataset.ms = String(Math.round(performance.now() - startedRow));
    list.appendChild(li);
    personInput.value = "";
    hideChoices();
    say("");
    personInput.focus();
  }
  function hideChoices() {
    choices.hidden = true; choices.textContent = ""; found = [];
    fresh.hidden = true;
  }
  function showChoices(items) {
    found = items;
    choices.textContent = "";
    items.forEach(function (p, i) {
      var li = document.createElement("li");
      li.setAttribute("data-testid", "bf-choice");
      li.textContent = (i + 1) + ". " + p.name + " (" + p.year + ") · " + p.ward + " · " + p.code + (p.problem ? " — " + p.problem : "");
      choices.appendChild(li);
    });
    choices.hidden = false;
    say(form.dataset.msgMany);
    choices.focus();
  }
  function showNew(text) {
    var m = /^(.*?)[\s,]+((?:19|20)\d\d)$/.exec(text);
    newName.value = m ? m[1] : (/\d{6,}/.test(text) ? "" : text);
    newYear.value = m ? m[2] : "";
    newSex.value = ""; newPhone.value = /^\+?\d{9,12}$/.test(text.replace(/\s/g, "")) ? text : "";
    fresh.hidden = false;
    say(form.dataset.msgNone);
    (newName.value ? (newYear.value ? newSex : newYear) : newName).focus();
  }
  function find() {
    var text = personInput.value.trim();
    if (!text || busy) return;
    startedRow = performance.now();
    busy = true;
    fetch(form.dataset.findUrl + "?site=" + encodeURIComponent(site.value) + "&q=" + encodeURIComponent(text), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        busy = false;
        var items = (j.people || []).filter(function (p) { return !people.some(function (q) { return q.id === p.id; }); });
        if (items.length === 1) addPerson(items[0]);
        else if (items.length > 1) showChoices(items);
        else showNew(text);
      }, function () { busy = false; say(form.dataset.msgError, "error"); });
  }
  function registerNew() {
    if (busy) return;
    busy = true;
    post(form.dataset.registerUrl, {
      site: site.value, client_id: uuid(), full_name: newName.value, birth: newYear.value,
      sex: newSex.value, phone: newPhone.value
    }).then(function (res) {
      busy = false;
      if (res.ok) addPerson(res.data.person);
      else say(errorsText(res.data.errors), "error");
    }, function () { busy = false; say(form.dataset.msgError, "error"); });
  }
  function close() {
    if (busy) return;
    if (!people.length) { say(form.dataset.msgNeedPeople, "error"); return; }
    var at = parseWhen(when.value);
    if (!at) { say(form.dataset.msgBadTime, "error"); when.focus(); return; }
    busy = true;
    var seconds = started === null ? null : (performance.now() - started) / 1000;
    post(form.dataset.enterUrl, {
      site: site.value, client_id: clientId, code: code.value, sheet_ref: sheet.value,
      collected_at: at, people: people.map(function (p) { return p.id; }), duration_seconds: seconds
    }).then(function (res) {
      busy = false;
      if (!res.ok) { say(errorsText(res.data.errors), "error"); return; }
      var d = res.data;
      var text = form.dataset.msgEntered + " " + d.tube + " · " + d.people + " · " + d.sheet_ref;
      if (d.names_missing) text += " — " + form.dataset.msgNamesMissing;
      say(text, "ok");
      status.dataset.tube = d.tube;
      var li = document.createElement("li");
      li.textContent = d.tube + " — " + d.sheet_ref + " — " + d.people;
      li.setAttribute("data-testid", "bf-entered");
      recent.insertBefore(li, recent.firstChild);
      people = []; list.textContent = ""; code.value = ""; clientId = uuid(); started = null;
      form.dataset.lastSeconds = seconds === null ? "" : seconds.toFixed(2);
      code.focus();
    }, function () { busy = false; say(form.dataset.msgError, "error"); });
  }
  form.addEventListener("keydown", function (e) {
    if (started === null && e.key.length === 1) started = performance.now();
    var t = e.target;
    if (t === choices) {
      var n = parseInt(e.key, 10);
      if (n >= 1 && n <= found.length) { e.preventDefault(); startedRow = performance.now(); addPerson(found[n - 1]); }
      else if (e.key === "n" || e.key === "N") { e.preventDefault(); var text = personInput.value.trim(); hideChoices(); showNew(text); }
      else if (e.key === "Escape") { e.preventDefault(); hideChoices(); personInput.focus(); }
      return;
    }
    if (e.key === "Escape" && !fresh.hidden) { e.preventDefault(); hideChoices(); personInput.focus(); return; }
    if (e.key === "Backspace" && t === personInput && !personInput.value && people.length) {
      e.preventDefault(); people.pop(); list.removeChild(list.lastChild); return;
    }
    if (e.key !== "Enter") return;
    e.preventDefault();
    if (t === site) code.focus();
    else if (t === code) { sheet.focus(); sheet.select(); }
    else if (t === sheet) { when.focus(); when.select(); }
    else if (t === when) personInput.focus();
    else if (t === personInput) { if (personInput.value.trim()) find(); else close(); }
    else if (fresh.contains(t)) { startedRow = performance.now(); registerNew(); }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
})();
