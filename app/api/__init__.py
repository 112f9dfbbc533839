"""The HTTP service: `create_app(settings)` in `app.api.main`."""
