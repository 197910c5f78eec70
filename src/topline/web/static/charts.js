// Draws every `.chart[data-figure]` with Plotly (the figure is Plotly JSON from the server),
// in the page and in every part htmx swaps in later (the dashboard's trend comes after it).
function drawCharts(root) {
  root.querySelectorAll(".chart[data-figure]").forEach(function (element) {
    if (element.dataset.drawn) {
      return;
    }
    element.dataset.drawn = "1";
    var figure = JSON.parse(element.dataset.figure);
    window.Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: { format: "png", filename: "topline-report" },
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts(document);
  document.body.addEventListener("htmx:load", function (event) {
    drawCharts(event.detail.elt.parentElement || document);
  });
  // A "Download the chart as PNG" button saves its chart as Plotly draws it.
  document.querySelectorAll("[data-download-chart]").forEach(function (button) {
    button.addEventListener("click", function () {
      var chart = document.getElementById(button.dataset.downloadChart);
      window.Plotly.downloadImage(chart, {
        format: "png", width: 1200, height: 600, filename: button.dataset.filename || "topline-chart",
      });
    });
  });
});
