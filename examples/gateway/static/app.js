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
