// The pipeline board: dragging a card to another column moves the deal (with the version the
// page showed). A refused move puts the card back and says why; a done move reloads the page
// so every total is right.
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("board-status");
  var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  headers["Accept"] = "application/json";
  document.querySelectorAll(".board__cards").forEach(function (list) {
    window.Sortable.create(list, {
      group: "board",
      animation: 120,
      filter: "select, button, a",
      preventOnFilter: false,
      onEnd: function (event) {
        if (event.from === event.to) return;
        var card = event.item;
        var body = new FormData();
        body.append("deal_id", card.dataset.dealId);
        body.append("version", card.dataset.version);
        body.append("stage_id", event.to.dataset.stageId);
        fetch("/pipeline/move", { method: "POST", headers: headers, body: body })
          .then(function (response) {
            return response.json().then(function (answer) {
              if (response.ok) {
                window.location.assign("/pipeline?moved=1");
                return;
              }
              event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
              status.textContent = "Not moved: " + answer.error;
              status.hidden = false;
            });
          });
      },
    });
  });
});
