// The review desk's keys and view tools. No framework: htmx swaps #desk after each decision, so
// every handler is delegated from document and reads the current desk when it runs.
(function () {
  "use strict";
  let flickerTimer = null;

  function desk() { return document.getElementById("desk"); }

  // A verdict needs both images of the pair in view: until each has loaded, or failed and says
  // so on the pane, a verdict waits (a slow thumbnail once let `m` merge a pair never seen).
  function imagesShown(d) {
    return Array.from(d.querySelectorAll(".pane img")).every(function (img) { return img.complete; });
  }

  function waitForImages(d) {
    const notice = d.querySelector("#images-pending");
    if (notice) notice.hidden = false;
  }

  function press(button, on) {
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function overlayMode(mode) {
    const d = desk();
    const overlay = d.querySelector("#overlay");
    const over = overlay.querySelector(".over");
    const difference = overlay.querySelector(".difference");
    const slider = overlay.querySelector(".slider");
    const current = overlay.dataset.mode || "";
    const next = current === mode ? "" : mode;
    clearInterval(flickerTimer);
    overlay.dataset.mode = next;
    overlay.hidden = next === "";
    d.querySelectorAll(".pane").forEach(function (pane) { pane.hidden = next !== ""; });
    over.hidden = next === "difference";
    over.style.clipPath = "";
    over.style.visibility = "";
    slider.hidden = next !== "slider";
    difference.hidden = next !== "difference";
    if (next === "difference" && !difference.src) difference.src = difference.dataset.src;
    if (next === "slider") slide();
    if (next === "flicker") {
      flickerTimer = setInterval(function () {
        over.style.visibility = over.style.visibility === "hidden" ? "" : "hidden";
        overlay.querySelector(".overlay-mode").textContent = over.style.visibility === "hidden" ? "showing the left image" : "showing the right image";
      }, 500);
    }
    const labels = { flicker: "flicker: the two images in turn", slider: "slider: the left image under the right",
      difference: "difference: black where the two are the same, bright where they differ" };
    overlay.querySelector(".overlay-mode").textContent = labels[next] || "";
    ["flicker", "slider", "difference"].forEach(function (name) {
      press(d.querySelector('[data-action="' + name + '"]'), next === name);
    });
  }

  function slide() {
    const d = desk();
    const value = d.querySelector("#slider").value;
    d.querySelector("#overlay .over").style.clipPath = "inset(0 0 0 " + value + "%)";
  }

  function zoom() {
    const d = desk();
    const stage = d.querySelector("#stage");
    const on = !stage.classList.contains("zoomed");
    stage.classList.toggle("zoomed", on);
    stage.querySelectorAll(".pane img").forEach(function (img) {
      if (on && img.dataset.original && !img.dataset.thumbnail) {
        img.dataset.thumbnail = img.src;
        img.src = img.dataset.original;
      }
    });
    press(d.querySelector('[data-action="zoom"]'), on);
  }

  function help() {
    const dialog = desk().querySelector("#help");
    dialog.hidden = !dialog.hidden;
  }

  const actions = { zoom: zoom, flicker: function () { overlayMode("flicker"); },
    slider: function () { overlayMode("slider"); }, difference: function () { overlayMode("difference"); }, help: help };

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) {
      event.preventDefault();
      actions[button.dataset.action]();
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.id === "slider") slide();
  });

  // Panned together: scrolling one zoomed viewport scrolls the other to the same place.
  let syncing = false;
  document.addEventListener("scroll", function (event) {
    const viewport = event.target.closest && event.target.closest(".zoomed .viewport");
    if (!viewport || syncing) return;
    syncing = true;
    desk().querySelectorAll(".zoomed .viewport").forEach(function (other) {
      if (other !== viewport) {
        other.scrollLeft = viewport.scrollLeft * (other.scrollWidth / Math.max(viewport.scrollWidth, 1));
        other.scrollTop = viewport.scrollTop * (other.scrollHeight / Math.max(viewport.scrollHeight, 1));
      }
    });
    syncing = false;
  }, true);

  document.addEventListener("keydown", function (event) {
    const d = desk();
    if (!d || event.ctrlKey || event.metaKey || event.altKey) return;
    const keyList = d.querySelector("#help");  // the group page has none
    if (event.key === "Escape") {
      if (keyList) keyList.hidden = true;
      return;
    }
    // While the key list is open it is modal: only ? (which closes it) and Escape act.
    if (keyList && !keyList.hidden && event.key !== "?") {
      event.preventDefault();
      return;
    }
    if (event.target.closest("input[type=text], input:not([type]), textarea, select")) return;
    // A key pressed while a decision is on its way is dropped, never applied to the next pair
    // unseen: the reviewer sees the next pair (body[data-ready]) before a key can act on it.
    if (document.body.dataset.busy) {
      event.preventDefault();
      return;
    }
    const target = d.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
    if (!target || target.disabled) return;
    event.preventDefault();
    target.click();
  });

  // The sidebar says which attachment w detaches: the one chosen below the buttons.
  document.addEventListener("change", function (event) {
    const chosen = event.target.closest('input[name="wrong_attachment"]');
    const shown = document.getElementById("w-target");
    if (chosen && shown) shown.textContent = chosen.dataset.names;
  });

  // Verdicts by mouse or by key wait for the images alike.
  document.addEventListener("click", function (event) {
    const d = desk();
    const verdict = event.target.closest('button[name="verdict"]');
    if (!d || !verdict || imagesShown(d)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    waitForImages(d);
  }, true);

  // A thumbnail that cannot load says so where the picture would be: the pair can then be decided.
  document.addEventListener("error", function (event) {
    if (event.target.tagName === "IMG") markFailed(event.target);
  }, true);
  document.addEventListener("load", function (event) {
    const d = desk();
    if (d && event.target.tagName === "IMG" && imagesShown(d)) {
      const notice = d.querySelector("#images-pending");
      if (notice) notice.hidden = true;
    }
  }, true);

  function markFailed(img) {
    const pane = img.closest(".pane");
    if (pane) pane.dataset.failed = "1";
  }

  function ready() {
    const d = desk();
    delete document.body.dataset.busy;
    if (!d) return;
    document.body.dataset.ready = d.dataset.candidate;
    d.querySelectorAll(".pane img").forEach(function (img) {  // failed before this script ran
      if (img.complete && !img.naturalWidth) markFailed(img);
    });
  }

  document.addEventListener("htmx:beforeRequest", function () {
    document.body.dataset.busy = "1";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) ready();
  });
  // After htmx swaps in the next pair, the view tools start afresh and focus goes to the desk.
  document.addEventListener("htmx:afterSettle", function () {
    clearInterval(flickerTimer);
    const d = desk();
    if (d) d.querySelector("h1").focus({ preventScroll: true });
    ready();
  });
  document.addEventListener("DOMContentLoaded", ready);
})();
