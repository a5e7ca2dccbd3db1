// Draws the hourly chart from the live fragment's data attributes, and redraws it
// each time htmx swaps a fresh fragment in (no inline script: CSP).
(function () {
  "use strict";
  var chart = null;

  function data(live, name) {
    try { return JSON.parse(live.getAttribute(name) || "[]"); } catch (e) { return []; }
  }

  function draw() {
    var canvas = document.getElementById("chart-hours");
    var live = document.querySelector("[data-testid=live]");
    if (!canvas || !live || typeof window.Chart === "undefined") { return; }
    var labels = data(live, "data-chart-labels");
    var sampled = data(live, "data-chart-sampled");
    var released = data(live, "data-chart-released");
    if (chart) {
      chart.data.labels = labels;
      chart.data.datasets[0].data = sampled;
      chart.data.datasets[1].data = released;
      chart.update("none");
      return;
    }
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: canvas.dataset.labelSampled, data: sampled, backgroundColor: "#2b6cb0" },
          { label: canvas.dataset.labelReleased, data: released, backgroundColor: "#2f855a" }
        ]
      },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } }
    });
    canvas.setAttribute("data-drawn", String(labels.length));
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "live") { draw(); }
  });
})();
