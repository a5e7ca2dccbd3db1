// Review page: "select all" ticks every result; the form's client id makes a
// double submit release once; the button is disabled after the first click.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  var form = document.getElementById("review-form");
  if (!all || !form) return;
  all.addEventListener("change", function () {
    form.querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
  });
  form.addEventListener("submit", function () {
    var button = document.getElementById("release");
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
})();
