// The API's page (/api/docs): Swagger UI on the whole API's document. Started from this
// file, not an inline script, and without the standalone preset (whose logo brings an
// inline <style>), so the pages' Content-Security-Policy holds without 'unsafe-inline'.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    validatorUrl: null,
  });
})();
