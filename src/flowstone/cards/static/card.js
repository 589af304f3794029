/* flowstone card page: draws the charts, and applies live updates (metaflow_card_update) while a task runs. */
(function () {
  function drawCharts(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(".fs-vega"), function (el) {
      var holder = el.querySelector("script[type='application/json']"), target = el.querySelector(".fs-vega-view");
      if (!holder || !target || !window.vegaEmbed) return;
      var options = { actions: target.getAttribute("data-actions") === "true", renderer: "svg" };
      window.vegaEmbed(target, JSON.parse(holder.textContent), options).then(function () {
        el.setAttribute("data-drawn", "true");
      }).catch(function (error) {
        target.textContent = "Chart error: " + error;
      });
    });
  }
  window.metaflow_card_update = function (data) {
    /* data: component id -> its new HTML */
    Object.keys(data || {}).forEach(function (id) {
      var old = document.querySelector("[data-component-id='" + id + "']");
      if (!old) return;
      var holder = document.createElement("div");
      holder.innerHTML = data[id];
      var fresh = holder.firstElementChild;
      if (fresh) { old.replaceWith(fresh); drawCharts(fresh.parentNode); }
    });
    return true;
  };
  drawCharts(document);
})();
