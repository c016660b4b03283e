// The desk's only script: one EventSource per page; the server pushes HTML it rendered and
// escaped (jinja2 autoescape), which replaces the live part. No polling, no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("stream-status");
  document.querySelectorAll("[data-events]").forEach(function (target) {
    var source = new EventSource(target.getAttribute("data-events"));
    source.addEventListener("update", function (event) {
      var focused = document.activeElement && document.activeElement.id;
      target.innerHTML = event.data;
      if (focused) {
        var again = document.getElementById(focused);
        if (again) { again.focus(); }
      }
      document.body.setAttribute("data-updates",
        String(Number(document.body.getAttribute("data-updates") || "0") + 1));
    });
    source.addEventListener("lost", function (event) {
      target.textContent = event.data;
      target.className = "error";
      source.close();
    });
    source.addEventListener("open", function () {
      if (status) { status.hidden = true; }
      document.body.setAttribute("data-live", "open");
    });
    source.addEventListener("error", function () {
      if (status) { status.textContent = status.getAttribute("data-offline"); status.hidden = false; }
    });
  });
});
