// Bulwark console: served as /console/assets/console.js (the CSP allows no inline script).
// The only script: it counts down the expiry of approvals. Every page works without it.
"use strict";
(function () {
  function left(ms) {
    if (ms <= 0) return "expired";
    var s = Math.floor(ms / 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (s >= 3600) return Math.floor(s / 3600) + "h " + two(Math.floor((s % 3600) / 60)) + "m";
    return Math.floor(s / 60) + "m " + two(s % 60) + "s";
  }
  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll(".countdown[data-expires-ms]");
    for (var i = 0; i < els.length; i++) {
      var at = Number(els[i].getAttribute("data-expires-ms"));
      if (at > 0) els[i].textContent = left(at - now);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
})();
