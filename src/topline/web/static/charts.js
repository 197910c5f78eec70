// Draws every `.chart[data-figure]` with Plotly (the figure is Plotly JSON from the server).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".chart[data-figure]").forEach(function (element) {
    var figure = JSON.parse(element.dataset.figure);
    window.Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: { format: "png", filename: "topline-report" },
    });
  });
});
