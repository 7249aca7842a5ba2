/* DSN's admin helpers: no framework, no build step. Every form still works without this
 * script (the backend form re-renders for another channel with its "Show this channel's
 * settings" button; conditions stay editable as JSON). */
"use strict";
(function () {
  function cssKey(key) { return key.replace(/[^A-Za-z0-9_-]/g, "-") || "core"; }

  /* -- backend form: show only the chosen channel's settings ------------------------- */
  function channelSettings() {
    const select = document.querySelector("select#id_messenger");
    const groups = document.querySelectorAll("fieldset.dsn-options");
    if (!select || !groups.length) return;
    const show = function () {
      groups.forEach(function (fs) {
        fs.classList.toggle("hidden", !fs.classList.contains("dsn-options-" + cssKey(select.value)));
      });
    };
    select.addEventListener("change", show);
    show();
  }

  window.dsnAdmin = window.dsnAdmin || {};
  window.dsnAdmin.cssKey = cssKey;
  document.addEventListener("DOMContentLoaded", function () {
    channelSettings();
    (window.dsnAdmin.onReady || []).forEach(function (f) { f(); });
  });
})();
