// The edition page's progressive enhancement (a static file: the pages' CSP allows no inline
// script). Every action on the page works as a plain form without it.
(function () {
  // Once the editor submits a form (pause, resume, approve...), a poll answered in the meantime
  // must not reload this page: the reload would replace the form's own navigation and lose it.
  var leaving = false;
  document.addEventListener("submit", function () { leaving = true; }, true);
  // A status changed elsewhere: show the page again, without this page's now stale notice.
  function showAgain() {
    if (leaving) { return; }
    var url = new URL(location.href);
    url.searchParams.delete("notice");
    location.replace(url.href);
  }
  var intro = document.getElementById("intro"), out = document.getElementById("intro-preview");
  if (intro && out) {
    var timer;
    intro.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var data = new FormData(document.getElementById("text-form"));
        fetch(out.dataset.previewUrl, {method: "POST", body: data, credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) { out.innerHTML = html; } });
      }, 250);
    });
  }
  // Links and spam score are checked by a worker: ask until they are ready, then take this page's
  // checklist section again (its approve form then carries the fingerprint of the full checklist).
  function watchChecklist(section) {
    if (!section || !section.dataset.stateUrl) { return; }
    var polls = 0;
    var poll = setInterval(function () {
      if (++polls > 400) { clearInterval(poll); return; }  // ten minutes; "Check again" stays
      fetch(section.dataset.stateUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
        if (!s.ready) { return; }
        clearInterval(poll);
        if (s.status !== "draft") { showAgain(); return; }
        fetch(location.pathname + location.search, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("checklist");
          if (fresh) { section.replaceWith(fresh); watchChecklist(fresh); }
        });
      });
    }, 1500);
  }
  watchChecklist(document.getElementById("checklist"));
  // Approved and due: a worker is starting the send; show the page again once it has begun.
  var starting = document.getElementById("starting");
  if (starting) {
    var waits = 0;
    var watch = setInterval(function () {
      if (++waits > 200) { clearInterval(watch); return; }  // ten minutes; a reload shows it too
      fetch(starting.dataset.progressUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
        if (p.status !== "approved") { clearInterval(watch); showAgain(); }
      });
    }, 3000);
  }
  var sending = document.getElementById("sending");
  if (sending && (sending.dataset.status === "sending" || sending.dataset.status === "paused")) {
    setInterval(function () {
      fetch(sending.dataset.progressUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
        document.getElementById("progress-bar").max = p.total;
        document.getElementById("progress-bar").value = p.done;
        document.getElementById("progress-done").textContent = p.done;
        document.getElementById("progress-total").textContent = p.total;
        document.getElementById("progress-percent").textContent = p.percent;
        document.getElementById("progress-rate").textContent = !p.per_minute ? "–" : (p.per_minute < 10
          ? p.per_minute.toFixed(1) : Math.round(p.per_minute).toLocaleString("en-US")) + " a minute";  // as the filter pace
        // The counts by state, as the page writes them: the same moment as the figures above.
        document.getElementById("progress-counts").textContent = Object.keys(p.counts).sort()
          .filter(function (state) { return p.counts[state]; })
          .map(function (state) { return state + ": " + p.counts[state]; }).join(" · ");
        document.getElementById("progress-eta").textContent = p.eta ? new Date(p.eta).toLocaleString("en-GB", {timeZone: sending.dataset.tz, dateStyle: "long", timeStyle: "short"}) : "–";
        if (p.status !== sending.dataset.status) { showAgain(); }
      });
    }, 3000);
  }
})();
