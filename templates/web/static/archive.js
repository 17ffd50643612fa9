// The archived edition's frame as tall as the email inside it, so the page scrolls once (a
// static file: the pages' CSP allows no inline script). The frame is same-origin and sandboxed
// without scripts: this page reads its height; nothing in it runs.
(function () {
  var frame = document.getElementById("edition-email");
  if (!frame) { return; }
  function fit() {
    var inner = frame.contentDocument && frame.contentDocument.documentElement;
    if (inner) { frame.style.height = inner.scrollHeight + "px"; }
  }
  frame.addEventListener("load", fit);
  window.addEventListener("resize", function () { frame.style.height = "0px"; fit(); });
  fit();
})();
