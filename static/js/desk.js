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

  // Zoom by steps of the fitted view (so a small image grows too), both images by one transform, at
  // the pointer when it is over an image, inside each image's own frame (never over the sidebar).
  const STEPS = [1, 2, 4, 8, 16];
  let view = { step: 0, x: 0, y: 0 };  // x, y: the image's offset, in widths and heights of its frame
  let pointer = null;  // where the pointer last was over a frame, as fractions of it

  function zoomed() {
    return desk().querySelectorAll("#stage .viewport img, #stage .viewport svg, #stage .overlay-frame img");
  }

  function clamp(offset, scale) { return Math.min(0, Math.max(1 - scale, offset)); }

  function showView() {
    const d = desk();
    const scale = STEPS[view.step];
    const stage = d.querySelector("#stage");
    stage.classList.toggle("zoomed", scale > 1);
    stage.dataset.zoom = String(scale);
    zoomed().forEach(function (img) {
      img.style.transform = scale > 1 ? "translate(" + view.x * 100 + "%, " + view.y * 100 + "%) scale(" + scale + ")" : "";
      if (scale > 1 && img.dataset.original && !img.dataset.thumbnail) {  // the full picture, once zoomed
        img.dataset.thumbnail = img.src;
        img.src = img.dataset.original;
      }
    });
    const shown = d.querySelector("#zoom-level");
    if (shown) shown.textContent = scale + "×";
    press(d.querySelector('[data-action="zoom-in"]'), scale > 1);
  }

  function zoomTo(step, at) {
    const before = STEPS[view.step];
    const next = Math.max(0, Math.min(STEPS.length - 1, step));
    const after = STEPS[next];
    const point = at || pointer || { x: 0.5, y: 0.5 };
    // The point of the picture under `at` stays under it: offset' = at - (at - offset) * after / before.
    view = { step: next, x: clamp(point.x - (point.x - view.x) * after / before, after),
      y: clamp(point.y - (point.y - view.y) * after / before, after) };
    showView();
  }

  function frameOf(target) { return target.closest && target.closest("#stage .viewport, #stage .overlay-frame"); }

  function fraction(frame, event) {
    const box = frame.getBoundingClientRect();
    return { x: (event.clientX - box.left) / box.width, y: (event.clientY - box.top) / box.height };
  }

  document.addEventListener("pointermove", function (event) {
    const frame = frameOf(event.target);
    pointer = frame ? fraction(frame, event) : null;
  });

  // Ctrl + wheel (and a trackpad's pinch, which Chromium sends as one) zooms at the pointer; the
  // plain wheel still scrolls the page.
  document.addEventListener("wheel", function (event) {
    const frame = frameOf(event.target);
    if (!frame || !event.ctrlKey) return;
    event.preventDefault();
    zoomTo(view.step + (event.deltaY < 0 ? 1 : -1), fraction(frame, event));
  }, { passive: false });

  document.addEventListener("dblclick", function (event) {
    const frame = frameOf(event.target);
    if (frame) zoomTo(view.step === STEPS.length - 1 ? 0 : view.step + 1, fraction(frame, event));
  });

  // Dragging a zoomed image (mouse, pen or finger) pans both.
  let drag = null;
  document.addEventListener("pointerdown", function (event) {
    const frame = frameOf(event.target);
    if (!frame || view.step === 0) return;
    event.preventDefault();
    drag = { frame: frame, from: fraction(frame, event), x: view.x, y: view.y };
  });
  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    const now = fraction(drag.frame, event);
    const scale = STEPS[view.step];
    view.x = clamp(drag.x + now.x - drag.from.x, scale);
    view.y = clamp(drag.y + now.y - drag.from.y, scale);
    showView();
  });
  document.addEventListener("pointerup", function () { drag = null; });
  document.addEventListener("pointercancel", function () { drag = null; });

  function help() {
    const dialog = desk().querySelector("#help");
    dialog.hidden = !dialog.hidden;
  }

  const actions = { "zoom-in": function () { zoomTo(view.step + 1); }, "zoom-out": function () { zoomTo(view.step - 1); },
    "zoom-fit": function () { zoomTo(0); }, flicker: function () { overlayMode("flicker"); },
    slider: function () { overlayMode("slider"); }, difference: function () { overlayMode("difference"); }, help: help,
    "help-close": function () { desk().querySelector("#help").hidden = true; } };

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
    if (document.body.dataset.comparing && target.closest("#compare")) return;
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
    delete document.body.dataset.comparing;
    if (!d) return;
    document.body.dataset.ready = d.dataset.candidate;
    d.querySelectorAll(".pane img").forEach(function (img) {  // failed before this script ran
      if (img.complete && !img.naturalWidth) markFailed(img);
    });
  }

  // Only a request that brings another pair (a decision, undo, next) holds keys back; a group
  // page's comparison swapping in does not, so "2 then m" keeps and merges as typed.
  // A comparison on its way holds back only the view tools' keys: htmx settles the new #overlay's
  // attributes after the swap, which would undo a tool switched on in between.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const into = event.detail.target && event.detail.target.id;
    if (into === "desk") document.body.dataset.busy = "1";
    if (into === "compare") document.body.dataset.comparing = "1";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) ready();
  });
  // After htmx swaps in the next pair, the view tools start afresh and focus goes to the desk.
  // (A group page swaps in only its comparison: focus stays where the reviewer chose.)
  document.addEventListener("htmx:afterSettle", function (event) {
    clearInterval(flickerTimer);
    view = { step: 0, x: 0, y: 0 };
    const d = desk();
    if (d && event.detail.target && event.detail.target.id === "desk") d.querySelector("h1").focus({ preventScroll: true });
    ready();
  });
  document.addEventListener("DOMContentLoaded", ready);
})();
