// Swagger UI over this server's /openapi.json. No validator badge: it would call another host.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    validatorUrl: null,
    deepLinking: false,
    tryItOutEnabled: false,
  });
});
