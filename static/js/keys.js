// A page's own keys, outside the desk: an element with data-key="r" is clicked when r is pressed
// (not while typing in a field, and not with a modifier held, so the browser's own keys still work).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const target = document.querySelector('main [data-key="' + CSS.escape(event.key) + '"]');
    if (!target) return;
    event.preventDefault();
    target.click();
  });
})();
