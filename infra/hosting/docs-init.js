// Swagger UI over the generated OpenAPI document (a file of its own: no inline script, so the
// page runs under a strict Content-Security-Policy).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No call to the public validator (validator.swagger.io): nothing leaves for a third party.
    validatorUrl: null,
  });
});
