// Copy buttons: `<button data-copy="ID" hidden>` copies the text (or value) of element ID;
// `<input data-select-on-focus>` selects its value when focused.
// The buttons stay hidden without JavaScript, so nothing on the page does nothing.
(function () {
  "use strict";

  function reveal(root) {
    (root || document).querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  function flash(button, label) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = label;
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      button.textContent = original;
    }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = /^(INPUT|TEXTAREA)$/.test(source.tagName) ? source.value : source.textContent;
    copy(text).then(
      function () { flash(button, "Copied"); },
      function () { flash(button, "Press Ctrl+C"); }
    );
  });

  // A secret shown once is selected as it gets focus, ready to copy by hand.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("input[data-select-on-focus]")) event.target.select();
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // Content swapped in by htmx (a tab, a revealed secret) gets its buttons too.
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
