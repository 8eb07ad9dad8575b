// Small page helpers (no inline scripts, so the Content-Security-Policy can forbid them).
document.addEventListener("htmx:afterRequest", function (e) {
  // Forms marked data-reset clear after a successful request.
  var form = e.detail.elt;
  if (e.detail.successful && form && form.matches && form.matches("form[data-reset]")) {
    form.reset();
  }
  // A successful request clears the error banner.
  if (e.detail.successful) {
    var flash = document.getElementById("flash");
    if (flash && e.detail.target !== flash) { flash.innerHTML = ""; }
  }
});
// The chat sends the message text itself, not htmx's JSON of every form field.
document.addEventListener("htmx:wsConfigSend", function (e) {
  e.detail.messageBody = e.detail.parameters.message || "";
});
document.addEventListener("htmx:wsAfterSend", function (e) {
  var form = e.target;
  if (form && form.matches && form.matches("form[data-reset]")) { form.reset(); }
});
// A stream or socket the gateway refused (too many open from this address, or in total) only
// shows as a failed EventSource or WebSocket; ask the same URL once with fetch to show the
// gateway's reason (429/503 with Retry-After) in the banner.
function showRefusal(url) {
  var controller = new AbortController();
  fetch(url, { signal: controller.signal, headers: { "hx-request": "true" } })
    .then(function (response) {
      if (response.status !== 429 && response.status !== 503) { controller.abort(); return; }
      return response.text().then(function (html) {
        var flash = document.getElementById("flash");
        if (flash) { flash.innerHTML = html; }
      });
    })
    .catch(function () {});
}
document.addEventListener("htmx:sseError", function (e) {
  var source = e.detail && e.detail.source;
  if (source && source.readyState === EventSource.CLOSED) { showRefusal(source.url); }
});
document.addEventListener("htmx:wsError", function (e) {
  var elt = e.target && e.target.closest && e.target.closest("[ws-connect]");
  if (elt) { showRefusal(elt.getAttribute("ws-connect")); }
});
