"""The JSON API, mounted at /api/v1 by `topline.web.app.create_app`."""
