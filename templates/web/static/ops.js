// The ops page's figures, updated in place (a static file: the pages' CSP allows no inline
// script). Every few seconds, while the tab is visible, the page is fetched again and each
// [data-live] region whose content changed is swapped for the fresh one; a region holding the
// focus or something typed keeps its elements and takes only its [data-figure] cells' text, so
// a half-typed purge confirmation and the keyboard's place survive. The warnings region is
// aria-live: a new warning is read out. Without script the page is a plain page.
(function () {
  var live = document.getElementById("ops-live");
  if (!live) { return; }
  var every = 1000 * Number(live.dataset.refreshSeconds || 15), timer = null, busy = false;

  function typedIn(region) {
    return Array.prototype.some.call(region.querySelectorAll("input, textarea, select"), function (field) {
      return field.type !== "hidden" && field.value !== field.defaultValue;
    });
  }

  function update(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live]").forEach(function (region) {
      var next = fresh.getElementById(region.id);
      if (!next || next.innerHTML === region.innerHTML) { return; }
      if (region.contains(document.activeElement) || typedIn(region)) {
        region.querySelectorAll("[data-figure]").forEach(function (cell) {
          var nextCell = fresh.getElementById(cell.id);
          if (nextCell && nextCell.textContent !== cell.textContent) { cell.textContent = nextCell.textContent; }
        });
      } else {
        region.innerHTML = next.innerHTML;
      }
    });
  }

  function poll() {
    if (busy || document.visibilityState !== "visible") { return; }
    busy = true;
    fetch(location.pathname, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { update(html); } })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }

  function start() { if (timer === null) { timer = setInterval(poll, every); } }
  function stop() { if (timer !== null) { clearInterval(timer); timer = null; } }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { poll(); start(); } else { stop(); }
  });
  if (document.visibilityState === "visible") { start(); }
})();
