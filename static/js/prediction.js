/* The playground and the prediction page: sliders beside number boxes, live updates without
   duplicates, running time, form errors (422) and spend-limit refusals (402) swapped in place, logs that follow their end.
   Nothing here writes model output into the page: the server renders and escapes it. */
(function () {
  "use strict";

  // Event ids are "<milliseconds>-<sequence>" and increase.
  function parseId(id) {
    var match = /^(\d+)-(\d+)$/.exec(id || "");
    return match ? [Number(match[1]), Number(match[2])] : null;
  }
  function isAfter(a, b) {
    return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  }
  function cursorFor(predictionId) {
    return document.getElementById("pred-" + predictionId + "-cursor");
  }

  // Every websocket message starts with the cursor of the event it shows. After a reconnect
  // the server may replay events this page has already applied: drop those.
  var MESSAGE_CURSOR = /^\s*<span id="pred-([a-z0-9]+)-cursor" data-event="(\d+-\d+)"/;
  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var match = MESSAGE_CURSOR.exec(event.detail.message);
    var cursor = match && cursorFor(match[1]);
    var seen = cursor && parseId(cursor.getAttribute("data-event"));
    if (seen && !isAfter(parseId(match[2]), seen)) event.preventDefault();
  });

  // The ws extension reconnects to the URL it started with; start after what is shown instead.
  if (window.htmx && htmx.createWebSocket) {
    var createWebSocket = htmx.createWebSocket;
    htmx.createWebSocket = function (url) {
      var match = /\/ws\/predictions\/([a-z0-9]+)\//.exec(url);
      var cursor = match && cursorFor(match[1]);
      var seen = cursor && cursor.getAttribute("data-event");
      if (parseId(seen)) url = url.replace(/([?&]after=)[^&]*/, "$1" + seen);
      return createWebSocket(url);
    };
  }

  // Invalid playground input comes back as the form with its errors, status 422, and a run
  // past the spend limit as the form with the refusal, status 402: show them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var refused = xhr && (xhr.status === 422 || xhr.status === 402);
    if (refused && event.target.closest("[data-playground]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A run that started clears the errors of an earlier attempt.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest("[data-playground] form");
    if (!form || !event.detail.successful) return;
    form.querySelectorAll(".field .error").forEach(function (error) {
      error.remove();
    });
    form.querySelectorAll(".has-error").forEach(function (field) {
      field.classList.remove("has-error");
    });
  });

  // Range sliders (hidden without JavaScript) mirror their number box, both ways.
  function showRanges(root) {
    root.querySelectorAll("input[type=range][data-range-for]").forEach(function (range) {
      var box = document.getElementById(range.getAttribute("data-range-for"));
      if (!box) return;
      range.hidden = false;
      if (box.value !== "") range.value = box.value;
    });
  }
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("input[type=range][data-range-for]")) {
      var box = document.getElementById(target.getAttribute("data-range-for"));
      if (box) box.value = target.value;
    } else if (target.matches("input[type=number]") && target.id && target.value !== "") {
      var range = document.querySelector(
        'input[type=range][data-range-for="' + CSS.escape(target.id) + '"]'
      );
      if (range) range.value = target.value;
    }
  });

  // Running time, counted on from what the server said (so the clocks need not agree).
  function formatSeconds(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + "s";
    var whole = Math.floor(seconds);
    var minutes = Math.floor(whole / 60);
    if (minutes < 60) return minutes + "m " + String(whole % 60).padStart(2, "0") + "s";
    return Math.floor(minutes / 60) + "h " + String(minutes % 60).padStart(2, "0") + "m";
  }
  var started = new WeakMap();
  setInterval(function () {
    document.querySelectorAll("[data-elapsed]").forEach(function (element) {
      if (!started.has(element)) {
        started.set(element, performance.now() - Number(element.dataset.elapsed) * 1000);
      }
      element.textContent = formatSeconds((performance.now() - started.get(element)) / 1000);
    });
    // The cost so far of a running prediction: its elapsed time at its hardware's price.
    document.querySelectorAll("[data-cost-seconds]").forEach(function (element) {
      if (!started.has(element)) {
        started.set(element, performance.now() - Number(element.dataset.costSeconds) * 1000);
      }
      var seconds = (performance.now() - started.get(element)) / 1000;
      element.textContent = (seconds * Number(element.dataset.price)).toFixed(6);
    });
  }, 500);

  // Logs follow their end while the reader is at the end.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("pred-logs")) {
      var atEnd = target.scrollHeight - target.scrollTop - target.clientHeight < 24;
      target.dataset.follow = atEnd ? "1" : "";
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.dataset && target.dataset.follow === "1") {
      target.scrollTop = target.scrollHeight;
    }
  });

  if (window.htmx) {
    htmx.onLoad(showRanges);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      showRanges(document);
    });
  }
})();
