// Scanning pages: the code input keeps the focus, so a USB barcode scanner (which
// types the code, then Enter) or a thumb can scan tube after tube without touching
// anything else. After each answer the input is emptied and focused again.
(function () {
  "use strict";
  function input() { return document.querySelector("[data-keep-focus]"); }
  function refocus() {
    var el = input();
    if (el) { el.value = ""; el.focus(); }
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (form && form.id === "scan-form") { refocus(); }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var el = input();
    var active = document.activeElement;
    // Keep the focus where the user chose to type (the reject form), else the scanner.
    if (el && (!active || active === document.body || active.closest("#receipt-panel, #packing"))) { el.focus(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { refocus(); }
  });
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && !target.closest("input, select, textarea, button, a, summary, label, form")) {
      var el = input();
      if (el) { el.focus(); }
    }
  });
})();
